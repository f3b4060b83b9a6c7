"""Source health across workers: each worker writes its cameras' health to Redis; the API reads it all.

Keys ``<prefix>:health:<source>`` hold JSON (the reader's health dict plus the worker's id) and expire
after two lease times, so a dead worker's cameras show as ``unassigned`` until another takes them.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence

import redis

from streetsight.cluster.loop import PeriodicRedisWriter
from streetsight.config import ClusterConfig, SourceConfig

log = logging.getLogger(__name__)


class SourceHealthPublisher(PeriodicRedisWriter):
    """Worker side: every ``interval_s`` writes the health of the sources this worker reads."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, worker_id: str,
                 health: Callable[[], list[dict]]) -> None:
        super().__init__("health-publisher", "source health", cluster.resolved_heartbeat_s())
        self.client = client
        self.cluster = cluster
        self.worker_id = worker_id
        self.health = health
        self.ttl_ms = int(cluster.lease_s * 2000)

    def publish_once(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        for h in self.health():
            h = dict(h, worker=self.worker_id, reported_at=time.time())
            pipe.set(self.cluster.key("health", h["id"]), json.dumps(h, default=str), px=self.ttl_ms)
        pipe.execute()

    def forget(self, source_id: str) -> None:
        """The source left this worker: drop its entry now rather than at expiry (if it is still ours)."""
        try:
            key = self.cluster.key("health", source_id)
            raw = self.client.get(key)
            if raw is not None and json.loads(raw).get("worker") == self.worker_id:
                self.client.delete(key)
        except (redis.RedisError, ValueError):
            pass


class ClusterSourceBoard:
    """API side: ``GET /api/v1/sources`` for every configured source, wherever it runs."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, sources: Sequence[SourceConfig]) -> None:
        self.client = client
        self.cluster = cluster
        self.sources = [s for s in sources if s.enabled]

    def health(self) -> list[dict]:
        keys = [self.cluster.key("health", s.id) for s in self.sources]
        try:
            values = self.client.mget(keys) if keys else []
        except redis.RedisError as exc:
            log.warning("cannot read source health from Redis: %s", exc)
            values = [None] * len(keys)
        out = []
        for src, raw in zip(self.sources, values):
            entry: dict | None = None
            if raw is not None:
                try:
                    entry = json.loads(raw)
                except ValueError:
                    entry = None
            if entry is None:
                entry = {"id": src.id, "kind": src.kind, "state": "unassigned", "worker": None,
                         "frames_analysed": 0}
            out.append(entry)
        return out
