"""A worker process on its own: its metrics endpoint, and the refusal of a second live worker with its id."""
from __future__ import annotations

import time

import httpx

from tests.cluster_procs import ServeProcess, write_config
from tests.conftest import free_port


def test_worker_serves_metrics_and_refuses_a_duplicate_id(tmp_path, redis_server):
    config = write_config(tmp_path / "c.yaml", {
        "sources": [],
        "storage": {"data_dir": str(tmp_path / "data")},
        "cluster": {"redis_url": redis_server.url, "lease_s": 2, "heartbeat_s": 0.5},
    })
    port = free_port()
    first = ServeProcess("first", config, ["--role", "worker", "--worker-id", "w1", "--metrics-port", str(port)],
                         tmp_path).start()
    second = ServeProcess("second", config, ["--role", "worker", "--worker-id", "w1"], tmp_path)
    try:
        deadline = time.monotonic() + 60
        metrics = None
        while time.monotonic() < deadline and metrics is None:
            assert first.alive, first.log_tail()
            try:
                metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                time.sleep(0.3)
        assert metrics is not None, first.log_tail()
        assert "streetsight_bus_published_total" in metrics and "streetsight_bus_outbox_events" in metrics

        second.start()
        assert second.proc.wait(60) == 2
        assert "is in use by a live worker" in second.log_tail() and "cluster.worker_id" in second.log_tail()
        assert first.alive
    finally:
        first.stop()
        second.stop()
    assert first.proc.returncode == 0, first.log_tail()


def test_worker_started_before_redis_waits_for_it(tmp_path, redis_server):
    import redis

    redis_server.stop()  # the worker starts first, as after a power cut
    config = write_config(tmp_path / "c.yaml", {
        "sources": [],
        "storage": {"data_dir": str(tmp_path / "data")},
        "cluster": {"redis_url": redis_server.url, "lease_s": 2, "heartbeat_s": 0.5},
    })
    worker = ServeProcess("w", config, ["--role", "worker", "--worker-id", "early"], tmp_path).start()
    try:
        # wait for the worker to say it waits (a loaded machine takes seconds to import and start it)
        deadline = time.monotonic() + 90
        while "waiting for Redis at start" not in worker.log_tail(10**7):
            assert worker.alive and time.monotonic() < deadline, worker.log_tail()
            time.sleep(0.2)
        time.sleep(1.0)  # and keeps waiting rather than exiting
        assert worker.alive, worker.log_tail()
        redis_server.start()
        client = redis.Redis.from_url(redis_server.url)
        deadline = time.monotonic() + 30
        while client.zscore("streetsight:workers", "early") is None:
            assert worker.alive and time.monotonic() < deadline, worker.log_tail()
            time.sleep(0.2)
        assert "waiting for Redis at start" in worker.log_tail(10**7)
    finally:
        worker.stop()
    assert worker.proc.returncode == 0, worker.log_tail()
