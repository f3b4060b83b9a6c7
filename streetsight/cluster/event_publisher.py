"""The worker's end of the event bus: ``EventPublisher`` takes the recorder's calls (it is a ``RecordSink``),
writes each event to a durable outbox first, and a drainer thread XADDs them oldest-first to
``<prefix>:<events_stream>`` (see streetsight/cluster/bus.py for the whole bus)."""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import redis

from api.schemas import EmbeddingIn, EvidenceItemIn, IncidentCreate
from streetsight.config import ClusterConfig

from .bus_link import Outage, client_for
from .bus_metrics import PublisherCollector
from .bus_events import BusEvent
from .event_outbox import EventOutbox

log = logging.getLogger("streetsight.cluster.bus")


class EventPublisher:
    """A ``RecordSink`` for workers: every call is on disk when it returns and reaches Redis when it can."""

    def __init__(self, cluster: ClusterConfig, worker_id: str, outbox_path: Path,
                 redis_client: redis.Redis | None = None, *, batch: int = 256) -> None:
        redis_client, self._own_client = client_for(cluster, redis_client, "publish events")
        self.stream = cluster.key(cluster.events_stream)
        self.worker_id = worker_id
        self.batch = batch
        self._redis = redis_client
        self._outbox = EventOutbox(outbox_path)
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._outage = Outage(f"event publisher {worker_id}")
        self._backlog_at_close: int | None = None
        # metrics (written by the drainer thread only); `collector` exports them to Prometheus
        self.published = 0
        self.redis_errors = 0
        self.collector = PublisherCollector(self)

    # -- RecordSink ------------------------------------------------------------------------------

    def add(self, incident: IncidentCreate) -> None:
        self.publish(BusEvent.opened(incident, self.worker_id))

    def attach_evidence(self, incident_id: str, item: EvidenceItemIn) -> None:
        self.publish(BusEvent.evidence(incident_id, item, self.worker_id))

    def mark_ended(self, incident_id: str, ended_at: float, ended_reason: str | None = None) -> None:
        self.publish(BusEvent.ended(incident_id, ended_at, self.worker_id, ended_reason))

    def mark_seen(self, incident_id: str, media_time: float) -> None:
        self.publish(BusEvent.seen(incident_id, media_time, self.worker_id))

    def mark_evidence_missing(self, incident_id: str, kind: str, reason: str) -> None:
        self.publish(BusEvent.missing(incident_id, kind, reason, self.worker_id))

    def attach_embedding(self, incident_id: str, embedding: EmbeddingIn) -> None:
        self.publish(BusEvent.embedding(incident_id, embedding, self.worker_id))

    def publish(self, event: BusEvent) -> None:
        """Durable on return (the outbox); never waits for Redis."""
        self._outbox.append(event)
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "EventPublisher":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"bus-publisher-{self.worker_id}", daemon=True)
            self._thread.start()
            self._wake.set()  # events left in the outbox by an earlier run go first
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what Redis takes within ``timeout_s``, then stop; the rest stays in the outbox for the next start."""
        if self._backlog_at_close is not None:
            return  # closed already
        thread, self._thread = self._thread, None
        if thread is not None:
            self._closing.set()
            self._wake.set()
            thread.join(timeout_s)
            if thread.is_alive():  # stuck on a hung Redis: leave it the outbox, it exits on its own
                log.warning("event publisher %s: Redis did not answer within %.1f s; %d event(s) stay in %s",
                            self.worker_id, timeout_s, self.backlog(), self._outbox.path)
                return
        left = self.backlog()
        if left:
            log.warning("event publisher %s: %d event(s) stay in %s for the next start",
                        self.worker_id, left, self._outbox.path)
        self._backlog_at_close = left
        self._outbox.close()
        if self._own_client:
            self._redis.close()

    def backlog(self) -> int:
        """Events not yet in Redis (after close: as left at close; -1 if the outbox cannot be read)."""
        if self._backlog_at_close is not None:
            return self._backlog_at_close
        try:
            return self._outbox.count()
        except Exception:
            return -1

    def wait_drained(self, timeout_s: float) -> bool:
        """True once the outbox is empty (for benchmarks and tests)."""
        deadline = time.monotonic() + timeout_s
        while self.backlog() != 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    # -- drainer ---------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.clear()  # before draining: an append during the drain wakes the next round
            delay = 0.0
            try:
                self._drain()
                self._outage.recovered()
            except redis.RedisError as e:
                self.redis_errors += 1
                delay = self._outage.failed(e)
            except Exception:
                log.exception("event publisher %s: drain failed; retrying", self.worker_id)
                delay = self._outage.cap_s
            if self._closing.is_set():
                return
            if delay:
                self._closing.wait(delay)  # not woken by new events: one retry per backoff step
            else:
                self._wake.wait()

    def _drain(self) -> None:
        while True:
            entries = self._outbox.oldest(self.batch)
            if not entries:
                return
            pipe = self._redis.pipeline(transaction=False)
            for entry in entries:
                pipe.xadd(self.stream, entry.event.encode())  # no MAXLEN: the consumers trim
            pipe.execute()
            self._outbox.delete([e.seq for e in entries])
            self.published += len(entries)
