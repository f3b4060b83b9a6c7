"""An H.265 camera over a real RTSP server (GStreamer, rtph265pay) -> serve's pipeline -> an incident whose
clip is the camera's H.265 packets in MP4 tagged hvc1, with an H.264 clip_preview a browser plays."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import pytest
from fastapi.testclient import TestClient

from streetsight.config import parse_config
from streetsight.server import build
from tests.conftest import RtspServer, rtsp_server_unavailable
from tests.real_parts import missing_real_part
from tests.scenarios.fixtures import vtest_avi  # noqa: F401 - a fixture
from tests.test_analyze_vtest import VAN_ZONE

pytestmark = [pytest.mark.rtsp, pytest.mark.samples]


@pytest.fixture(scope="module")
def hevc_rtsp(vtest_avi: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    reason = rtsp_server_unavailable()
    if reason:
        missing_real_part(reason)
    from tests.codec_media import VARIANT_S, transcode

    path = transcode(vtest_avi, tmp_path_factory.mktemp("hevc"), "hevc_mp4", seconds=VARIANT_S)
    server = RtspServer({"street": path}).start()
    yield server.url("street")
    server.stop()


def test_an_h265_rtsp_camera_gets_an_hvc1_clip_and_an_h264_preview(hevc_rtsp, tmp_path, monkeypatch):
    monkeypatch.setenv("STREETSIGHT_ADMIN_PASSWORD", "serve-test-admin")
    cfg = parse_config({
        "sources": [{"id": "h265-cam", "url": hevc_rtsp, "analysis_fps": 2,
                     "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": VAN_ZONE}]}],
        "rules": {"illegal_parking": {"min_dwell_s": 8}},
        "evidence": {"pre_roll_s": 3, "post_roll_s": 3},
        "storage": {"data_dir": str(tmp_path)},
    })
    rt, pipeline, app = build(cfg)
    worker = threading.Thread(target=pipeline.run, daemon=True)
    worker.start()
    try:
        with TestClient(app) as client:
            login = client.post("/api/v1/auth/login", json={"username": "admin", "password": "serve-test-admin"})
            assert login.status_code == 200, login.text
            incident = None
            deadline = time.monotonic() + 90  # a generous bound for a slow machine, not a speed goal
            while time.monotonic() < deadline:
                items = client.get("/api/v1/incidents", params={"status": "pending"}).json()
                if items and {"clip", "clip_preview", "manifest"} <= set(items[0]["evidence"]):
                    incident = items[0]
                    break
                time.sleep(0.5)
            sources = client.get("/api/v1/sources").json()
            assert incident is not None, f"no incident with clip and preview; sources: {sources}"
            sources = client.get("/api/v1/sources").json()
            assert sources[0]["state"] == "streaming" and sources[0]["last_error"] is None

            evidence = incident["evidence"]
            clip = client.get(evidence["clip"]["url"])
            assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
            (tmp_path / "clip.mp4").write_bytes(clip.content)
            with av.open(str(tmp_path / "clip.mp4")) as c:
                stream = c.streams.video[0]
                assert stream.codec_context.name == "hevc" and stream.codec_tag == "hvc1"
                frames = list(c.decode(stream))
            assert frames[0].key_frame and len(frames) >= 50  # pre- and post-roll at 10 fps, from a keyframe

            preview = client.get(evidence["clip_preview"]["url"])
            assert preview.status_code == 200 and preview.headers["content-type"] == "video/mp4"
            (tmp_path / "preview.mp4").write_bytes(preview.content)
            with av.open(str(tmp_path / "preview.mp4")) as c:
                assert c.streams.video[0].codec_context.name == "h264"
                assert len(list(c.decode(video=0))) >= 50
    finally:
        pipeline.stop()
        worker.join(timeout=20)
        rt.close()
