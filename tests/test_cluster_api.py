"""The API role's view of a cluster, with a real Redis: source health written by workers, position reports
relayed to the worker that reads the camera, and clear errors when Redis is not configured or down."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from streetsight.cluster.api_role import build_api
from streetsight.cluster.connection import connect
from streetsight.cluster.positions import PositionFeed, board_for
from streetsight.cluster.source_board import SourceHealthPublisher
from streetsight.config import parse_config
from tests.test_cli import run_cli

PASSWORD = "cluster-api-admin"


def cluster_config(tmp_path, redis_url: str):
    return parse_config({
        "sources": [
            {"id": "cctv-1", "url": "rtsp://user:secret@10.0.0.1/stream", "kind": "cctv"},
            {"id": "body-1", "url": "rtsp://10.0.0.2/live", "kind": "enforcement"},
        ],
        "storage": {"data_dir": str(tmp_path / "data")},
        "cluster": {"redis_url": redis_url, "lease_s": 3, "heartbeat_s": 0.5},
    })


@pytest.fixture
def api(tmp_path, redis_server, monkeypatch):
    monkeypatch.setenv("STREETSIGHT_ADMIN_PASSWORD", PASSWORD)
    cfg = cluster_config(tmp_path, redis_server.url)
    rt, app = build_api(cfg)
    with TestClient(app) as client:
        assert client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
        yield cfg, client
    rt.close()


def test_sources_show_what_workers_report_and_unassigned_otherwise(api):
    cfg, client = api
    assert {s["id"]: s["state"] for s in client.get("/api/v1/sources").json()} == \
        {"cctv-1": "unassigned", "body-1": "unassigned"}

    health = [{"id": "cctv-1", "url": "rtsp://user:secret@10.0.0.1/stream", "state": "streaming",
               "frames_analysed": 42, "kind": "cctv"}]
    publisher = SourceHealthPublisher(connect(cfg.cluster), cfg.cluster, "w7", lambda: health)
    publisher.publish_once()
    sources = {s["id"]: s for s in client.get("/api/v1/sources").json()}
    assert sources["cctv-1"]["state"] == "streaming" and sources["cctv-1"]["worker"] == "w7"
    assert sources["cctv-1"]["frames_analysed"] == 42
    assert "secret" not in json.dumps(sources)  # credentials masked on the way out
    assert sources["body-1"]["state"] == "unassigned"

    publisher.forget("cctv-1")  # the camera left this worker
    assert {s["id"]: s["state"] for s in client.get("/api/v1/sources").json()}["cctv-1"] == "unassigned"


def test_position_reports_reach_the_worker_reading_the_camera(api, redis_server):
    cfg, client = api
    board = board_for(cfg.sources)
    feed = PositionFeed(connect(cfg.cluster), cfg.cluster, board).start()
    try:
        time.sleep(0.3)  # the feed subscribes
        now = time.time()
        r = client.post("/api/v1/sources/body-1/position",
                        json={"lng": 121.47, "lat": 31.23, "timestamp": now})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 10
        while board.nearest("body-1", now) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        position = board.nearest("body-1", now)
        assert position is not None and (position.lng, position.lat) == (121.47, 31.23)

        assert client.post("/api/v1/sources/cctv-1/position",
                           json={"lng": 1, "lat": 1, "timestamp": now}).status_code == 409
        assert client.post("/api/v1/sources/nope/position",
                           json={"lng": 1, "lat": 1, "timestamp": now}).status_code == 404

        # a worker that takes the camera over later loads the recent history
        late = board_for(cfg.sources)
        assert PositionFeed(connect(cfg.cluster), cfg.cluster, late).load_history("body-1") == 1
        assert late.nearest("body-1", now).lat == 31.23

        redis_server.stop()
        iso = datetime.fromtimestamp(now, timezone.utc).isoformat()
        r = client.post("/api/v1/sources/body-1/position", json={"lng": 121.5, "lat": 31.2, "timestamp": iso})
        assert r.status_code == 503 and "Redis" in r.json()["detail"]
    finally:
        feed.stop()


def test_worker_and_api_roles_need_redis(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("sources: []\n")
    for role in ("worker", "api"):
        done = run_cli("serve", "--config", str(config), "--role", role)
        assert done.returncode == 2 and "cluster.redis_url" in done.stderr, done.stderr
