"""Cameras as records (issue 13, item 1): the /api/v1/sources routes on a real database (SQLite and
PostgreSQL), the config's validation, write-only secrets, the audit, the YAML imported on the first start."""
from __future__ import annotations

from pathlib import Path

import pytest

from api.source_catalog import SourceCatalog
from streetsight.config import parse_config
from streetsight.source_records import open_source_catalog, validate_source_body
from tests.api_env import ApiEnv

SECRET = "S3cr-t@pw"  # holds an "@", as camera passwords do: FFmpeg splits the userinfo at the last one
URL = f"rtsp://admin:{SECRET}@10.0.0.17:554/h264"
KERB = [[0.82, 0.05], [0.97, 0.05], [0.97, 0.20], [0.82, 0.20]]


def camera(**overrides) -> dict:
    body = {"id": "cam-17", "url": URL, "kind": "cctv", "name": "人民路口东", "address": "人民路 12 号",
            "lng": 120.15, "lat": 30.28, "grid": "G-0102", "area": "west", "analysis_fps": 2,
            "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB,
                       "rules": {"illegal_parking": {"min_dwell_s": 30}}}],
            "rules": {"illegal_parking": {"min_dwell_s": 90}}, "enabled": True}
    body.update(overrides)
    return body


@pytest.fixture
def env(tmp_path: Path, database_url: str):
    from api.db import create_engine_for, init_db, make_session_factory

    engine = create_engine_for(database_url)
    init_db(engine)
    catalog = SourceCatalog(make_session_factory(engine), validate_source_body)
    e = ApiEnv(tmp_path, database_url, source_catalog=catalog)
    e.catalog = catalog
    yield e
    e.close()
    engine.dispose()


def test_an_admin_adds_reads_changes_and_deletes_a_camera_each_change_audited(env) -> None:
    admin = env.client("admin")
    r = admin.post("/api/v1/sources", json=camera())
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/api/v1/sources/cam-17"
    shown = r.json()
    assert shown["url"] == "rtsp://admin:***@10.0.0.17:554/h264"
    assert shown["zones"][0]["polygon"] == KERB and shown["zones"][0]["rules"] == {"illegal_parking": {"min_dwell_s": 30}}
    assert (shown["name"], shown["area"], shown["lng"]) == ("人民路口东", "west", 120.15)
    assert env.catalog.get("cam-17")["url"] == URL  # the records keep the password: they are the secret store

    assert admin.post("/api/v1/sources", json=camera()).status_code == 409
    listed = admin.get("/api/v1/sources").json()
    assert [s["id"] for s in listed] == ["cam-17"] and listed[0]["state"] == "starting"

    # the UI sends back the masked URL it was shown: the stored password is kept
    edited = dict(shown, zones=[{"id": "gate", "events": ["illegal_parking"], "polygon": KERB}])
    for key in ("state",):
        edited.pop(key)
    r = admin.put("/api/v1/sources/cam-17", json=edited)
    assert r.status_code == 200, r.text
    assert [z["id"] for z in r.json()["zones"]] == ["gate"]
    assert env.catalog.get("cam-17")["url"] == URL
    # a masked password with a new host keeps the password; a typed one replaces it
    r = admin.put("/api/v1/sources/cam-17", json=dict(edited, url="rtsp://admin:***@10.0.0.18/h264"))
    assert r.status_code == 200, r.text
    assert env.catalog.get("cam-17")["url"] == f"rtsp://admin:{SECRET}@10.0.0.18/h264"
    r = admin.put("/api/v1/sources/cam-17", json=dict(edited, url="rtsp://admin:new-pw@10.0.0.18/h264"))
    assert env.catalog.get("cam-17")["url"] == "rtsp://admin:new-pw@10.0.0.18/h264"
    assert admin.get("/api/v1/sources/cam-17").json()["url"] == "rtsp://admin:***@10.0.0.18/h264"

    assert admin.delete("/api/v1/sources/cam-17").status_code == 204
    assert admin.get("/api/v1/sources/cam-17").status_code == 404
    assert admin.delete("/api/v1/sources/cam-17").status_code == 404
    assert admin.put("/api/v1/sources/cam-17", json=edited).status_code == 404

    audit = admin.get("/api/v1/audit", params={"source_id": "cam-17"}).json()
    assert [a["action"] for a in audit] == ["source.deleted", "source.updated", "source.updated", "source.updated",
                                            "source.created"]
    assert {a["actor"] for a in audit} == {"admin1"}
    created, first_edit = audit[-1], audit[-2]
    assert created["before"] is None and created["after"]["zones"][0]["id"] == "kerb"
    assert first_edit["before"]["zones"][0]["id"] == "kerb" and first_edit["after"]["zones"][0]["id"] == "gate"
    assert audit[0]["before"]["url"] == "rtsp://admin:***@10.0.0.18/h264" and audit[0]["after"] is None


def test_writes_are_for_admins_reads_for_every_role(env) -> None:
    env.client("admin").post("/api/v1/sources", json=camera())
    reviewer = env.client("reviewer")
    assert reviewer.get("/api/v1/sources").status_code == 200
    assert reviewer.get("/api/v1/sources/cam-17").status_code == 200
    assert reviewer.post("/api/v1/sources", json=camera(id="cam-18")).status_code == 403
    assert reviewer.put("/api/v1/sources/cam-17", json=camera()).status_code == 403
    assert reviewer.delete("/api/v1/sources/cam-17").status_code == 403
    assert env.catalog.get("cam-18") is None and env.catalog.get("cam-17") is not None


@pytest.mark.parametrize("change, field, problem", [
    ({"zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": [[0.1, 0.1], [1.5, 0.1], [0.5, 0.9]]}]},
     "zones[0].polygon", "outside 0..1"),
    ({"zones": [{"id": "kerb", "events": ["jaywalking"], "polygon": KERB}]}, "zones[0].events", "unknown event type"),
    ({"analysis_fps": 0}, "analysis_fps", "greater than 0"),
    ({"lat": 123}, "lat", "less than or equal to 90"),
    ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ({"rules": {"illegal_parking": {"min_dwell_s": -1}}}, "rules.illegal_parking.min_dwell_s", "greater than or equal"),
    ({"zones": [{"id": "a", "events": ["illegal_parking"], "polygon": KERB}] * 2}, "<body>", "zone ids must be unique"),
    ({"id": "bad id!"}, "id", "should match pattern"),
])
def test_a_bad_body_is_a_422_naming_the_field_as_the_config_does(env, change, field, problem) -> None:
    r = env.client("admin").post("/api/v1/sources", json=camera(**change))
    assert r.status_code == 422, r.text
    messages = [e["msg"] for e in r.json()["detail"]]
    assert any(m.startswith(f"{field}: ") and problem in m for m in messages), messages
    assert SECRET not in r.text  # a model-level error echoes the body: its URL is masked
    assert env.catalog.list() == []


def test_no_route_returns_a_stored_password_or_env_reference(env, monkeypatch) -> None:
    monkeypatch.setenv("CAM18_PASSWORD", "from-the-environment")
    admin = env.client("admin")
    texts = [admin.post("/api/v1/sources", json=camera()).text,
             admin.post("/api/v1/sources", json=camera(id="cam-18", url="rtsp://op:${CAM18_PASSWORD}@cam18/1")).text,
             admin.post("/api/v1/sources", json=camera(id="cam-19", url="http://cam19/snap?user=op&password=" + SECRET)).text]
    assert env.catalog.get("cam-18")["url"] == "rtsp://op:${CAM18_PASSWORD}@cam18/1"  # resolved at use only
    texts += [admin.get("/api/v1/sources").text, admin.get("/api/v1/sources/cam-18").text,
              admin.put("/api/v1/sources/cam-17", json=camera(analysis_fps=1)).text,
              admin.put("/api/v1/sources/cam-17", json=camera(zones=[{"id": "x"}])).text,
              admin.delete("/api/v1/sources/cam-19").text, admin.get("/api/v1/audit").text]
    for text in texts:
        for secret in (SECRET, "${CAM18_PASSWORD}", "CAM18_PASSWORD", "from-the-environment"):
            assert secret not in text, text
    assert "rtsp://op:***@cam18/1" in admin.get("/api/v1/sources/cam-18").text


def test_a_masked_url_cannot_make_a_password_up(env, monkeypatch) -> None:
    admin = env.client("admin")
    r = admin.post("/api/v1/sources", json=camera(url="rtsp://admin:***@10.0.0.17/h264"))
    assert r.status_code == 422 and r.json()["detail"][0]["msg"].startswith("url: ")
    admin.post("/api/v1/sources", json=camera(url="rtsp://10.0.0.17/h264"))  # stored without a password
    r = admin.put("/api/v1/sources/cam-17", json=camera(url="rtsp://admin:***@10.0.0.17/h264"))
    assert r.status_code == 422 and "masked" in r.json()["detail"][0]["msg"]
    r = admin.post("/api/v1/sources", json=camera(id="cam-20", url="rtsp://op:${NOT_SET_ANYWHERE}@cam20/1"))
    assert r.status_code == 422 and r.json()["detail"][0]["msg"] == \
        "url: environment variable NOT_SET_ANYWHERE is not set"
    r = admin.put("/api/v1/sources/cam-17", json=camera(id="cam-99"))
    assert r.status_code == 422 and r.json()["detail"][0]["msg"].startswith("id: ")


def test_the_yaml_sources_are_imported_on_the_first_start_only(tmp_path: Path, monkeypatch) -> None:
    from api.db import create_engine_for, init_db, make_session_factory

    monkeypatch.setenv("CAM_PW", "yaml-secret")
    cfg = parse_config({
        "sources": [{"id": "a", "url": "rtsp://op:${CAM_PW}@cam-a/1", "area": "west",
                     "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB,
                                "rules": {"illegal_parking": {"min_dwell_s": 20}}}]},
                    {"id": "b", "url": "rtsp://cam-b/1", "enabled": False}],
        "storage": {"data_dir": str(tmp_path)},
    })
    engine = create_engine_for(cfg.storage.resolved_database_url())
    init_db(engine)
    sessions = make_session_factory(engine)
    catalog = open_source_catalog(cfg, sessions)
    assert catalog.list() == [
        {"id": "a", "url": "rtsp://op:${CAM_PW}@cam-a/1", "area": "west",  # the reference, not the password
         "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB,
                    "rules": {"illegal_parking": {"min_dwell_s": 20.0}}}]},
        {"id": "b", "url": "rtsp://cam-b/1", "enabled": False}]
    from streetsight.source_records import running_sources

    [running] = running_sources(catalog)
    assert running.url == "rtsp://op:yaml-secret@cam-a/1"
    assert running.zones[0].rules.model_fields_set == {"illegal_parking"}  # overrides stay "only what is set"
    catalog.delete("b", "admin")
    again = open_source_catalog(cfg, sessions)  # the next start: the records rule, b stays deleted
    assert [b["id"] for b in again.list()] == ["a"]
    engine.dispose()
