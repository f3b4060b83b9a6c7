"""Camera records across `--role api` + workers: a camera added, edited, disabled and deleted through the API
process reaches a worker through Redis and the source leases, without a restart (real Redis, real RTSP)."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.registry import ENV_DIRS
from streetsight.config import parse_config
from tests.tiny_yolo import register_tiny_yolo

ADMIN_PASSWORD = "sources-cluster-admin"


def wait_for(what: str, probe, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s  # bounds a hung test; not a speed goal
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def api_and_worker(tmp_path: Path, redis_url: str, monkeypatch, **cluster) -> Iterator[tuple[TestClient, object]]:
    """An API process's app (signed in as admin) and one worker ``w1`` in a thread, on tiny-yolo and Redis."""
    from streetsight.cluster.api_role import build_api
    from streetsight.cluster.worker import ClusterWorker

    monkeypatch.setenv(ENV_DIRS, str(register_tiny_yolo(tmp_path / "models")))
    monkeypatch.setenv("STREETSIGHT_ADMIN_PASSWORD", ADMIN_PASSWORD)
    cfg = parse_config({
        "model": {"name": "tiny-yolo"},
        "storage": {"data_dir": str(tmp_path / "data")},
        "cluster": {"redis_url": redis_url, "lease_s": 2, "heartbeat_s": 0.5, **cluster},
    })
    rt, app = build_api(cfg)
    rt.start()
    worker = ClusterWorker(cfg, worker_id="w1")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        with TestClient(app) as client:
            assert client.post("/api/v1/auth/login",
                               json={"username": "admin", "password": ADMIN_PASSWORD}).status_code == 200
            yield client, worker
    finally:
        worker.stop()
        thread.join(timeout=60)
        rt.close()
    assert not thread.is_alive()


@pytest.mark.rtsp
def test_a_camera_added_through_the_api_process_is_read_by_a_worker(rtsp_urls, redis_server, tmp_path: Path,
                                                                     monkeypatch) -> None:
    with api_and_worker(tmp_path, redis_server.url, monkeypatch) as (client, worker):
        camera = {"id": "cam-1", "url": rtsp_urls["cam"], "decode": "keyframes", "area": "west"}
        assert client.post("/api/v1/sources", json=camera).status_code == 201

        def frames() -> int:
            return next((h["frames_analysed"] for h in worker.pipeline.health() if h["id"] == "cam-1"), 0)

        wait_for("the worker reading the new camera", lambda: frames() >= 2)
        assert worker.leases.held() == {"cam-1"}
        wait_for("its health through the API process",
                 lambda: client.get("/api/v1/sources/cam-1").json().get("worker") == "w1")

        zone = {"id": "kerb", "events": ["illegal_parking"], "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}
        assert client.put("/api/v1/sources/cam-1", json=dict(camera, zones=[zone])).status_code == 200

        def running_zones() -> list[str]:
            analysis = worker.pipeline.analyses.get("cam-1")
            return [] if analysis is None else [z.id for z in analysis.source.zones]

        wait_for("the edited camera running on the worker", lambda: running_zones() == ["kerb"] and frames() >= 2)

        assert client.put("/api/v1/sources/cam-1", json=dict(camera, enabled=False)).status_code == 200
        wait_for("the disabled camera to stop", lambda: "cam-1" not in worker.pipeline.analyses)
        assert worker.leases.held() == set() and "cam-1" not in worker.leases.sources

        assert client.put("/api/v1/sources/cam-1", json=camera).status_code == 200
        wait_for("the enabled camera back", lambda: frames() >= 2)
        assert client.delete("/api/v1/sources/cam-1").status_code == 204
        wait_for("the deleted camera to stop", lambda: "cam-1" not in worker.pipeline.analyses)


def test_an_end_reason_crosses_the_bus_to_the_records(tmp_path: Path) -> None:
    """A worker ends the open incidents of a removed zone or camera with a reason; the API process stores it."""
    from api import IncidentRepository, create_engine_for, init_db, make_session_factory
    from streetsight.cluster.bus_events import BadEvent, BusEvent, apply_event
    from tests.api_env import incident

    engine = create_engine_for(f"sqlite:///{tmp_path / 'records.sqlite'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    repo.add(incident(1))
    repo.add(incident(2))
    inc1, inc2 = incident(1).id, incident(2).id
    apply_event(repo, BusEvent.decode(BusEvent.ended(inc1, 55.0, "w1", ended_reason="zone_removed").encode()))
    apply_event(repo, BusEvent.decode(BusEvent.ended(inc2, 56.0, "w1").encode()))  # the spot emptied
    assert (repo.get(inc1).ended_at, repo.get(inc1).ended_reason) == (55.0, "zone_removed")
    assert (repo.get(inc2).ended_at, repo.get(inc2).ended_reason) == (56.0, None)
    with pytest.raises(BadEvent):
        apply_event(repo, BusEvent("incident_ended", inc2, {"ended_at": 57.0, "ended_reason": 7}, worker="w1"))
    engine.dispose()
