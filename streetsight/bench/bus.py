"""`streetsight bench bus`: throughput and latency of the Redis event bus, worker call -> stored record.

A private redis-server (temporary folder, AOF with fsync always), a real SQLite repository, one
``EventPublisher`` (its outbox fsynced per call) and one ``EventConsumer`` in this process. The recorder's
calls are made as fast as they return: half ``incident_opened``, half ``evidence_attached``.
"""
from __future__ import annotations

import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streetsight.bench.redis_server import RedisServer


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_bus_bench(events: int = 5000, log: Callable[[str], None] = lambda _: None,
                  timeout_s: float | None = None) -> dict[str, Any]:
    from sqlalchemy.orm import sessionmaker

    from api.db import create_engine_for, init_db
    from api.repository import IncidentRepository
    from api.schemas import EvidenceItemIn, IncidentCreate
    from streetsight.cluster.bus import EventConsumer, EventPublisher
    from streetsight.cluster.connection import bus_client
    from streetsight.cluster.bus_events import BusEvent
    from streetsight.config import ClusterConfig

    limit_s = timeout_s if timeout_s is not None else max(60.0, events / 20)
    with tempfile.TemporaryDirectory(prefix="streetsight-bench-bus-") as tmp:
        folder = Path(tmp)
        server = RedisServer(folder / "redis")
        publisher = consumer = None
        try:
            server.start()
            log(f"redis-server pid {server.pid} on port {server.port} (AOF, appendfsync always)")
            engine = create_engine_for(f"sqlite:///{folder / 'records.sqlite'}")
            init_db(engine)
            repository = IncidentRepository(sessionmaker(engine, expire_on_commit=False))
            cluster = ClusterConfig(redis_url=server.url, prefix="bench")
            client = bus_client(server.url)
            version = client.info("server").get("redis_version")

            latencies: list[float] = []
            done = threading.Event()

            def applied(event: BusEvent) -> None:  # the consumer's thread, after the XACK
                latencies.append(time.time() - event.created)
                if len(latencies) >= events:
                    done.set()

            consumer = EventConsumer(cluster, repository, "bench-api", block_ms=100, trim_every_s=1.0,
                                     on_applied=applied)
            consumer.run_once(block_ms=1)  # the group exists before the first event
            consumer.start()
            publisher = EventPublisher(cluster, "bench-worker", folder / "outbox.sqlite").start()

            log(f"publishing {events} events")
            call_s = 0.0
            t0 = time.perf_counter()
            for n in range(events):
                i = n // 2
                c0 = time.perf_counter()
                if n % 2 == 0:
                    publisher.add(IncidentCreate(
                        id=f"inc_{i:08d}", type="illegal_parking", source=f"cam{i % 200}", zone="kerb",
                        started_at=float(i), confirmed_at=i + 15.0, class_name="car", box=(10, 20, 110, 90),
                        score=0.9, track_id=i, frame_size=(1280, 720)))
                else:
                    publisher.attach_evidence(f"inc_{i:08d}", EvidenceItemIn(
                        kind="snapshot", key=f"cam{i % 200}/inc_{i:08d}/snapshot.jpg", sha256=f"{i:064x}",
                        size=150_000, content_type="image/jpeg"))
                call_s += time.perf_counter() - c0
            calls_done = time.perf_counter()
            deadline = time.monotonic() + limit_s
            while publisher.published < events:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {publisher.published} of {events} events in Redis after {limit_s:.0f} s")
                time.sleep(0.002)
            published_at = time.perf_counter()
            if not done.wait(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"only {consumer.applied} of {events} events stored after {limit_s:.0f} s")
            stored_at = time.perf_counter()

            consumer.stop()
            consumer.trim()
            stream_left = int(client.xlen(consumer.stream))
            incidents = repository.count()
            client.close()
            result = {
                "bench": "bus",
                "events": events,
                "incidents": incidents,
                "publish_events_per_s": round(events / (published_at - t0), 1),
                "end_to_end_events_per_s": round(events / (stored_at - t0), 1),
                "publish_call_mean_s": round(call_s / events, 6),
                "publish_calls_s": round(calls_done - t0, 3),
                "latency_p50_s": round(_quantile(latencies, 0.50), 4),
                "latency_p95_s": round(_quantile(latencies, 0.95), 4),
                "latency_max_s": round(max(latencies), 4),
                "latency_mean_s": round(statistics.fmean(latencies), 4),
                "redelivered": consumer.redelivered,
                "dead_lettered": consumer.dead_lettered,
                "stream_entries_after_trim": stream_left,
                "redis_version": version,
                "redis_persistence": "AOF, appendfsync always",
                "outbox": "SQLite WAL, synchronous=FULL",
                "database": "SQLite",
                "machine": f"{platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}",
                "definition": "publish: first call -> all in Redis; end-to-end and latency: call -> stored and "
                              "acknowledged by the consumer; calls made back to back by one thread",
            }
            return result
        finally:
            if consumer is not None:
                consumer.stop(timeout_s=5)
            if publisher is not None:
                publisher.close(timeout_s=2)
            server.stop()


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
