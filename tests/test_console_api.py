"""The operator console's API with 350 cameras in the records: one wall summary, the map's points, statistics
per type, camera, area and day with the confirm-rate flag, CSV export, and field-named 422s. Response times
for 350 cameras are printed (never asserted)."""
from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.settings import MapSettings, UiSettings
from tests.console_env import ADMIN, GOOD, LOW, OPEN, PASSWORD, Console, console_app
from tests.test_sources_cli import N_CAMERAS


@pytest.fixture()
def console(tmp_path: Path) -> Iterator[tuple[Console, TestClient]]:
    with console_app(tmp_path) as served, TestClient(served.app) as client:
        assert client.post("/api/v1/auth/login", json={"username": ADMIN, "password": PASSWORD}).status_code == 200
        yield served, client


def timed(client: TestClient, url: str, runs: int = 5) -> tuple[object, float]:
    res = client.get(url)
    assert res.status_code == 200, res.text
    started = time.perf_counter()
    for _ in range(runs):
        client.get(url)
    return res, (time.perf_counter() - started) / runs * 1000


def test_the_wall_is_one_summary_of_every_camera_with_state_last_incident_and_flags(console) -> None:
    served, client = console
    res, ms = timed(client, "/api/v1/wall")
    print(f"\nGET /api/v1/wall with {N_CAMERAS} cameras: {ms:.1f} ms, {len(res.content)} bytes")
    wall = res.json()
    cameras = {c["id"]: c for c in wall["cameras"]}
    assert len(cameras) == N_CAMERAS
    assert wall["states"] == {"streaming": 280, "backing_off": 35, "failed": 35}
    backing = cameras["cam-0003"]
    assert backing["state"] == "backing_off" and backing["reason"].startswith("connection refused")
    assert "pw3secret" not in res.text and "url" not in backing  # no camera password, no URL at all
    assert cameras["cam-0007"]["reason"] == "401 Unauthorized"
    assert cameras["cam-0004"]["reason"] is None  # streaming: no reason shown
    assert (cameras["cam-0004"]["decoder"], cameras["cam-0004"]["worker"]) == ("h264", "node-a")
    assert cameras["cam-0004"]["area"] == "west" and cameras["cam-0004"]["grid"] == "G-0000"
    assert cameras["cam-0349"]["area"] == "east" and cameras["cam-0349"]["grid"] == "G-0404"
    assert cameras[OPEN]["last_incident"]["id"] == served.incidents["open"]
    assert cameras[OPEN]["last_incident"]["type"] == "non_motor_parking"
    assert cameras["cam-0100"]["last_incident"] is None
    assert cameras[LOW]["flags"] == [{"type": "illegal_parking", "reviewed": 4, "confirm_rate": 0.25}]
    assert cameras[GOOD]["flags"] == []
    assert wall["confirm_rate_floor"] == 0.5


def test_the_map_places_cameras_open_incidents_and_open_cases(console) -> None:
    served, client = console
    res, ms = timed(client, "/api/v1/map")
    print(f"\nGET /api/v1/map with {N_CAMERAS} cameras: {ms:.1f} ms, {len(res.content)} bytes")
    data = res.json()
    assert data["tiles"] is None and data["unplaced_cameras"] == 0
    assert len(data["cameras"]) == N_CAMERAS
    cam = {p["id"]: p for p in data["cameras"]}[OPEN]
    assert (cam["lng"], cam["lat"]) == (pytest.approx(120.12), pytest.approx(30.2))
    incidents = {p["id"]: p for p in data["incidents"]}
    # the pending one is open; reviewed and ended ones are not
    assert set(incidents) == {served.incidents["open"]}
    assert incidents[served.incidents["open"]]["state"] == "pending"
    assert (incidents[served.incidents["open"]]["lng"], incidents[served.incidents["open"]]["lat"]) == (cam["lng"], cam["lat"])
    # the confirmed incidents have open (manual) cases: one of cam-0001, two of cam-0002; the closed one is not shown
    assert sorted((p["source"], p["state"]) for p in data["cases"]) == [(LOW, "manual"), (GOOD, "manual"), (GOOD, "manual")]
    assert str(served.case_id) not in {p["id"] for p in data["cases"]}


def test_statistics_per_camera_and_type_with_confirm_rate_reasons_cases_and_flags(console) -> None:
    served, client = console
    res, ms = timed(client, "/api/v1/stats?group_by=camera,type")
    print(f"\nGET /api/v1/stats?group_by=camera,type: {ms:.1f} ms")
    report = res.json()
    assert report["group_by"] == ["camera", "type"] and report["confirm_rate_min_reviews"] == 3
    rows = {(r["camera"], r["type"]): r for r in report["rows"]}
    low = rows[(LOW, "illegal_parking")]
    assert (low["incidents"], low["reviewed"], low["confirmed"], low["rejected"]) == (4, 4, 1, 3)
    assert low["confirm_rate"] == 0.25
    assert low["reject_reasons"] == {"false_detection": 2, "not_stationary": 1}
    assert low["median_review_s"] is not None and low["median_review_s"] > 3600  # reviewed hours after detection
    good = rows[(GOOD, "street_vending")]
    assert (good["confirm_rate"], good["cases"]) == (1.0, 3)
    assert good["cases_by_status"] == {"manual": 2, "closed": 1}
    assert good["cases_by_department"] == {"unassigned": 3}
    assert good["median_close_s"] == 7200.0
    assert rows[(OPEN, "non_motor_parking")]["pending"] == 1
    assert report["flags"] == [{"camera": LOW, "type": "illegal_parking", "reviewed": 4, "confirmed": 1,
                                "confirm_rate": 0.25}]
    assert report["total"]["incidents"] == 8

    by_area = client.get("/api/v1/stats", params={"group_by": "area", "type": "illegal_parking"}).json()
    assert [(r["area"], r["incidents"]) for r in by_area["rows"]] == [("west", 4)]  # cam-0001 is west
    assert client.get("/api/v1/stats", params={"area": "west"}).json()["total"]["incidents"] == 8
    assert client.get("/api/v1/stats", params={"area": "east"}).json()["total"]["incidents"] == 0
    days = client.get("/api/v1/stats", params={"group_by": "day", "camera": GOOD}).json()
    assert sum(r["incidents"] for r in days["rows"]) == 3 and all(r["day"] for r in days["rows"])


def test_statistics_export_as_csv(console) -> None:
    _, client = console
    res = client.get("/api/v1/stats", params={"group_by": "camera,type", "format": "csv"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(res.text)))
    low = next(r for r in rows if r["camera"] == LOW)
    assert (low["type"], low["incidents"], low["confirm_rate"]) == ("illegal_parking", "4", "0.25")
    assert low["reject_reasons"] == "false_detection:2; not_stationary:1"
    assert next(r for r in rows if r["camera"] == GOOD)["cases_by_status"] == "manual:2; closed:1"


@pytest.mark.parametrize("params, field", [
    ({"group_by": "camera,weather"}, "group_by"),
    ({"from": "2026-05-02", "to": "2026-05-01"}, "to"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
    ({"from": "yesterday"}, "from"),
    ({"format": "xls"}, "format"),
])
def test_bad_statistics_queries_are_422_naming_the_field(console, params, field) -> None:
    _, client = console
    res = client.get("/api/v1/stats", params=params)
    assert res.status_code == 422, res.text
    assert field in res.text


def test_ui_config_checks_the_tile_template_and_the_floor() -> None:
    with pytest.raises(ValidationError, match="lacks {y}"):
        MapSettings(tile_url="https://gis.city.gov/tiles/{z}/{x}.png")
    with pytest.raises(ValidationError, match="absolute http"):
        MapSettings(tile_url="gis/{z}/{x}/{y}.png")
    with pytest.raises(ValidationError, match="confirm_rate_floor"):
        UiSettings(confirm_rate_floor=1.5)
    assert MapSettings(tile_url="https://gis.city.gov:8443/t/{z}/{x}/{y}.png").tile_origin() == "https://gis.city.gov:8443"


def test_a_configured_tile_service_reaches_the_map_and_the_page_csp(tmp_path: Path) -> None:
    from streetsight.case_wiring import api_settings
    from streetsight.config import Config

    cfg = Config.model_validate({"ui": {"map": {"tile_url": "http://10.0.0.9:8080/tiles/{z}/{x}/{y}.png",
                                                "attribution": "© 市测绘院"}, "confirm_rate_floor": 0.6}})
    settings = api_settings(cfg)
    assert settings.ui.confirm_rate_floor == 0.6
    assert "http://10.0.0.9:8080" in settings.http.media_origins  # img-src of the page's CSP
    ui = settings.ui
    with console_app(tmp_path, ui=ui) as served, TestClient(served.app) as client:
        client.post("/api/v1/auth/login", json={"username": ADMIN, "password": PASSWORD})
        tiles = client.get("/api/v1/map").json()["tiles"]
    assert tiles["url"] == "http://10.0.0.9:8080/tiles/{z}/{x}/{y}.png" and tiles["attribution"] == "© 市测绘院"


@pytest.mark.parametrize("zone, utc, day", [
    ("Asia/Shanghai", "2026-05-01T15:59:59+00:00", "2026-05-01"),
    ("Asia/Shanghai", "2026-05-01T16:00:00+00:00", "2026-05-02"),
    ("Europe/Berlin", "2026-03-28T22:59:59+00:00", "2026-03-28"),  # CET, the night before summer time
    ("Europe/Berlin", "2026-03-28T23:00:00+00:00", "2026-03-29"),
    ("Europe/Berlin", "2026-10-24T21:59:59+00:00", "2026-10-24"),  # CEST
    ("Europe/Berlin", "2026-10-25T23:00:00+00:00", "2026-10-26"),  # CET again
    ("America/St_Johns", "2026-01-10T03:29:00+00:00", "2026-01-09"),  # -03:30: the hour holds two local days
    ("America/St_Johns", "2026-01-10T03:30:00+00:00", "2026-01-10"),
])
def test_local_days_follow_the_zone_with_its_offset_looked_up_per_hour(zone, utc, day) -> None:
    from datetime import datetime

    from api.incident_stats import LocalDays

    days = LocalDays(zone)
    wall = datetime.fromisoformat(utc)
    days(wall.replace(minute=0, second=0))  # the hour's offset is cached first
    assert days(wall).isoformat() == day


def test_a_trainer_sees_no_cases_in_the_statistics_or_on_the_map(console) -> None:
    served, client = console
    served.app.state.auth.add_user("trainer1", PASSWORD, "trainer")
    client.post("/api/v1/auth/logout")
    assert client.post("/api/v1/auth/login", json={"username": "trainer1", "password": PASSWORD}).status_code == 200
    report = client.get("/api/v1/stats", params={"group_by": "camera"}).json()
    assert report["total"]["incidents"] == 8 and report["total"]["cases"] is None
    assert all(r["cases_by_status"] is None for r in report["rows"])
    assert "cases" not in client.get("/api/v1/stats", params={"format": "csv"}).text.splitlines()[0].split(",")
    data = client.get("/api/v1/map").json()
    assert data["cases"] == [] and len(data["incidents"]) == 1
    client.post("/api/v1/auth/logout")
    assert client.get("/api/v1/wall").status_code == 401
