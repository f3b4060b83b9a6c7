"""Issue 15: the shop responsible for a shop front (门前三包) is a typed field of the incident
(``IncidentOut.shop``), from the ``extra.shop`` the rules (zone name) or the sign reader put there; other incidents
have none. The whole path (analyze -> record -> API -> case) is in tests/test_scenes_shop_piles.py."""
from __future__ import annotations

from pathlib import Path

from tests.api_env import ApiEnv, incident


def test_the_incident_api_carries_the_shop_as_a_typed_field(tmp_path: Path, database_url: str) -> None:
    env = ApiEnv(tmp_path, database_url)
    try:
        zone_named = {"name": "李记小吃", "source": "zone", "confidence": 1.0}
        sign_unread = {"name": None, "source": "sign", "confidence": None, "uncertain": True}
        env.repo.add(incident(1, type="illegal_umbrella", extra={"shop": zone_named}))
        env.repo.add(incident(2, type="outside_shop_business", extra={"shop": sign_unread}))
        env.repo.add(incident(3, type="illegal_parking", extra={"vehicle": {"plate": "京A12345"}}))
        env.repo.add(incident(4, type="outside_shop_business", extra={"shop": "not a record"}))
        reviewer = env.client()
        shops = {i["id"]: i["shop"] for i in reviewer.get("/api/v1/incidents", params={"limit": 10}).json()}
        assert shops[incident(1).id] == {**zone_named, "uncertain": None}
        assert shops[incident(2).id] == sign_unread
        assert shops[incident(3).id] is None and shops[incident(4).id] is None
        one = reviewer.get(f"/api/v1/incidents/{incident(1).id}").json()
        assert one["shop"]["name"] == "李记小吃" and one["shop"]["source"] == "zone"
    finally:
        env.close()
