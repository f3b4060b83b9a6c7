"""The live path of `serve`: vtest over a real RTSP server -> pipeline -> incident with evidence -> review."""
from __future__ import annotations

import time
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient

from streetsight.config import parse_config
from streetsight.server import build
from tests.conftest import RtspServer, rtsp_server_unavailable
from tests.real_parts import missing_real_part

pytestmark = [pytest.mark.rtsp, pytest.mark.samples]


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


def test_live_rtsp_source_becomes_reviewable_incident(vtest_rtsp, tmp_path, monkeypatch):
    monkeypatch.setenv("STREETSIGHT_ADMIN_PASSWORD", "serve-test-admin")  # the first user `serve` creates
    cfg = parse_config({
        "sources": [{
            "id": "street-cam",
            "url": vtest_rtsp,
            "analysis_fps": 2,
            "zones": [{"id": "kerb", "events": ["illegal_parking"],
                       "polygon": [[0.82, 0.05], [0.97, 0.05], [0.97, 0.20], [0.82, 0.20]]}],
        }],
        "rules": {"illegal_parking": {"min_dwell_s": 8}},
        "evidence": {"pre_roll_s": 3, "post_roll_s": 3},
        "storage": {"data_dir": str(tmp_path)},
    })
    rt, pipeline, app = build(cfg)
    import threading

    worker = threading.Thread(target=pipeline.run, daemon=True)
    worker.start()
    try:
        with TestClient(app) as client:
            login = client.post("/api/v1/auth/login", json={"username": "admin", "password": "serve-test-admin"})
            assert login.status_code == 200, login.text
            incident = None
            deadline = time.monotonic() + 90  # a generous bound for a slow CI machine, not a speed goal
            while time.monotonic() < deadline:
                items = client.get("/api/v1/incidents", params={"status": "pending"}).json()
                if items and "clip" in items[0]["evidence"]:
                    incident = items[0]
                    break
                time.sleep(0.5)
            assert incident is not None, f"no incident with a clip; sources: {client.get('/api/v1/sources').json()}"
            assert len(items) == 1
            assert (incident["type"], incident["source"], incident["zone"]) == ("illegal_parking", "street-cam", "kerb")
            assert incident["class"] in ("truck", "car", "bus")

            sources = client.get("/api/v1/sources").json()
            assert sources[0]["id"] == "street-cam" and sources[0]["state"] == "streaming"
            assert sources[0]["frames_analysed"] > 10

            clip = client.get(incident["evidence"]["clip"]["url"])
            assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
            clip_path = tmp_path / "clip.mp4"
            clip_path.write_bytes(clip.content)
            with av.open(str(clip_path)) as c:
                frames = list(c.decode(video=0))
            assert frames[0].key_frame and len(frames) >= 50  # ≥ 6 s at 10 fps, from a keyframe

            r = client.post(f"/api/v1/incidents/{incident['id']}/review", json={"decision": "confirm", "note": "van"})
            assert r.status_code == 200
            assert client.get(f"/api/v1/incidents/{incident['id']}").json()["status"] == "confirmed"
            assert client.post(f"/api/v1/incidents/{incident['id']}/review",
                               json={"decision": "maybe"}).status_code == 422
    finally:
        pipeline.stop()
        worker.join(timeout=15)
    assert not worker.is_alive()
