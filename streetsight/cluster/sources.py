"""Camera records across processes: API processes publish the records to Redis, workers follow them.

Keys: ``<prefix>:sources`` (hash: source id -> the record's JSON body, ``${ENV}`` references unresolved;
each worker resolves them from its own environment) and ``<prefix>:sources:version`` (incremented with
every publication). The database stays the store of record; Redis carries the current set to the workers,
which read the version at every poll and the set only when it changed. A worker that finds nothing
published (no API process has run with records yet) keeps the sources of its config.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import redis

from api.source_catalog import SourceBody, SourceCatalog
from streams.urls import mask_text
from streetsight.config import ClusterConfig

log = logging.getLogger(__name__)


def _keys(cluster: ClusterConfig, name: str) -> tuple[str, str]:
    return cluster.key(name), cluster.key(name, "version")


class Listed(Protocol):
    def list(self) -> list[Any]: ...


class RedisSourcePublisher:
    """API side: a `SourceCatalog` listener that writes the whole current set (350 records: one small
    transaction) after every change, and once at start. ``name`` other than ``sources`` publishes another
    set of records with ids the same way (taught examples: streetsight/cluster/examples.py)."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, catalog: SourceCatalog | Listed,
                 on_published: Callable[[list[SourceBody]], None] | None = None, name: str = "sources") -> None:
        self.client = client
        self.catalog = catalog
        self.name = name
        self.key, self.version_key = _keys(cluster, name)
        self.on_published = on_published
        self._lock = threading.Lock()

    def publish(self) -> bool:
        with self._lock:
            bodies = self.catalog.list()
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(self.key)
            if bodies:
                pipe.hset(self.key, mapping={b["id"]: json.dumps(b, ensure_ascii=False) for b in bodies})
            pipe.incr(self.version_key)
            try:
                pipe.execute()
            except redis.RedisError as exc:
                log.warning("%s: not published to the workers (Redis: %s); they follow at the next change",
                            self.name, mask_text(str(exc)))
                return False
        if self.on_published is not None:
            self.on_published(bodies)
        return True

    def __call__(self, source_id: str, before: Any, after: Any) -> None:
        self.publish()


class RedisSourceFollower:
    """Worker side: ``on_change(bodies)`` with the published set whenever its version changes."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, on_change: Callable[[dict[str, SourceBody]], Any],
                 poll_s: float, name: str = "sources") -> None:
        self.client = client
        self.name = name
        self.key, self.version_key = _keys(cluster, name)
        self.on_change = on_change
        self.poll_s = poll_s
        self.version: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> dict[str, SourceBody] | None:
        """The published set if its version is new (None: unchanged, or never published)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.get(self.version_key)
        pipe.hgetall(self.key)
        raw_version, raw = pipe.execute()
        if raw_version is None or int(raw_version) == self.version:
            return None
        self.version = int(raw_version)
        bodies = {}
        for value in raw.values():
            body = json.loads(value)
            bodies[body["id"]] = body
        return bodies

    def start(self) -> "RedisSourceFollower":
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                bodies = self.read()
                if bodies is not None:
                    self.on_change(bodies)
            except redis.RedisError as exc:
                log.warning("%s: cannot read the published set (Redis: %s)", self.name, mask_text(str(exc)))
            except Exception:
                log.exception("%s: applying the published set failed", self.name)
