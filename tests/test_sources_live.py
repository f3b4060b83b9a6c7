"""Issue 13's first 'done when': `serve` started with no cameras; a camera added through the API is analysed
without a restart (vtest's parked van on a real RTSP server becomes its illegal_parking incident); editing
its zones, disabling and deleting it apply to the running pipeline; no route shows its password."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from streetsight.config import parse_config
from tests.conftest import RtspServer, rtsp_server_unavailable
from tests.real_parts import missing_real_part
from tests.serve_thread import served_all
from tests.test_analyze_vtest import PLAZA_ZONE, VAN_ZONE

pytestmark = [pytest.mark.rtsp, pytest.mark.samples]
ADMIN_PASSWORD = "sources-live-admin"
CAMERA_PASSWORD = "cam-pw@street"


@pytest.fixture(scope="module")
def vtest_rtsp() -> str:
    reason = rtsp_server_unavailable()
    if reason:
        missing_real_part(reason)
    from datasets.samples import fetch_samples

    path = fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    server = RtspServer({"street": path}).start()
    yield server.url("street")
    server.stop()


def wait_for(what: str, probe, timeout_s: float = 120.0):
    """Poll ``probe`` until it returns something truthy; the bound is for a slow CI machine, not a goal."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def served(tmp_path: Path, monkeypatch):
    """`serve` (role all) on a config without cameras, in a thread; yields (signed-in client, pipeline)."""
    monkeypatch.setenv("STREETSIGHT_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("STREET_CAM_PASSWORD", CAMERA_PASSWORD)
    cfg = parse_config({
        "rules": {"illegal_parking": {"min_dwell_s": 8}},
        "evidence": {"pre_roll_s": 3, "post_roll_s": 3},
        "storage": {"data_dir": str(tmp_path)},
    })
    with served_all(cfg, ADMIN_PASSWORD, wait_for) as served:
        yield served


def test_a_camera_added_through_the_api_is_analysed_without_a_restart(served, vtest_rtsp, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client, pipeline, worker = served
    assert client.get("/api/v1/sources").json() == []
    time.sleep(1.0)
    assert worker.is_alive()  # no cameras is not the end of the pipeline

    url = vtest_rtsp.replace("rtsp://", "rtsp://op:${STREET_CAM_PASSWORD}@")  # resolved at use only
    camera = {"id": "street-cam", "url": url, "name": "vtest street", "area": "west", "analysis_fps": 2,
              "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": VAN_ZONE}]}
    r = client.post("/api/v1/sources", json=camera)
    assert r.status_code == 201, r.text
    shown = []

    def van_incident():
        items = client.get("/api/v1/incidents", params={"source": "street-cam"}).json()
        return items[0] if items else None

    incident = wait_for("the van's illegal_parking incident", van_incident)
    assert (incident["type"], incident["source"], incident["zone"]) == ("illegal_parking", "street-cam", "kerb")
    assert incident["class"] in ("truck", "car", "bus") and incident["ended_at"] is None
    r = client.get("/api/v1/sources/street-cam")
    shown.append(r.text)
    assert r.json()["state"] == "streaming" and r.json()["frames_analysed"] > 0
    assert r.json()["url"] == vtest_rtsp.replace("rtsp://", "rtsp://op:***@")

    def analysed_with_dwell(min_dwell_s: float) -> int:
        analysis = pipeline.analyses.get("street-cam")
        rules = None if analysis is None else analysis.source.zones[0].rules
        return analysis.frames_analysed if rules and rules.illegal_parking.min_dwell_s == min_dwell_s else 0

    # a rule of the kerb zone changes: the next version judges with it and continues the van's incident
    tighter = {"illegal_parking": {"min_dwell_s": 6}}
    r = client.put("/api/v1/sources/street-cam", json=dict(camera, zones=[dict(camera["zones"][0], rules=tighter)]))
    assert r.status_code == 200, r.text
    wait_for("15 s analysed by the new version", lambda: analysed_with_dwell(6) >= 30)  # past its dwell
    items = client.get("/api/v1/incidents", params={"source": "street-cam"}).json()
    assert [(i["id"], i["ended_at"]) for i in items] == [(incident["id"], None)]

    # the kerb zone goes, the plaza stays: the van's open incident ends with a reason; analysis goes on
    r = client.put("/api/v1/sources/street-cam", json=dict(r.json(), zones=[
        {"id": "plaza", "events": ["illegal_parking"], "polygon": PLAZA_ZONE}]))
    assert r.status_code == 200, r.text
    shown.append(r.text)
    ended = wait_for("the kerb incident to end", lambda: (
        lambda i: i if i["ended_at"] is not None else None)(client.get(f"/api/v1/incidents/{incident['id']}").json()))
    assert ended["ended_reason"] == "zone_removed"
    def zones_running() -> list[str]:
        analysis = pipeline.analyses.get("street-cam")
        return [] if analysis is None else [z.id for z in analysis.source.zones]

    wait_for("the new version streaming", lambda: zones_running() == ["plaza"] and
             client.get("/api/v1/sources/street-cam").json().get("frames_analysed", 0) > 0)
    assert pipeline.analyses["street-cam"].source.url == vtest_rtsp.replace("rtsp://", f"rtsp://op:{CAMERA_PASSWORD}@")

    r = client.put("/api/v1/sources/street-cam", json=dict(camera, enabled=False))
    assert r.status_code == 200, r.text
    wait_for("the disabled camera to stop", lambda: "street-cam" not in pipeline.analyses)
    assert client.get("/api/v1/sources/street-cam").json()["state"] == "disabled"

    assert client.delete("/api/v1/sources/street-cam").status_code == 204
    assert client.get("/api/v1/sources").json() == []
    shown += [client.get("/api/v1/audit", params={"source_id": "street-cam"}).text, client.get("/api/v1/sources").text]
    for text in shown:
        assert CAMERA_PASSWORD not in text and "STREET_CAM_PASSWORD" not in text
    assert worker.is_alive()
    assert "street-cam" in caplog.text and CAMERA_PASSWORD not in caplog.text  # nor in any log line
