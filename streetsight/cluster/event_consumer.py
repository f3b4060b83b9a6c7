"""The API's end of the event bus: ``EventConsumer`` reads ``<prefix>:<events_stream>`` in the group
``consumer_group``, applies each event to the repository and acknowledges it only once stored; entries a dead
consumer left unacknowledged are claimed after ``claim_idle_s``; malformed or hopeless entries go to
``<prefix>:<events_stream>:dead`` (see streetsight/cluster/bus.py for the whole bus)."""
from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from streetsight.config import ClusterConfig

from .bus_link import Outage, client_for
from .bus_metrics import ConsumerCollector
from .connection import redis_text
from .bus_events import BadEvent, BusEvent, IncidentNotYetKnown, apply_event

log = logging.getLogger("streetsight.cluster.bus")

DEAD_LETTER_MAXLEN = 100_000  # dead letters are for people to read; bound them (approximately)


class ApplyOutcome(enum.Enum):
    """What became of one entry applied to the repository."""
    STORED = "stored"  # applied (or a repeat of one applied): acknowledge it
    WAITING = "waiting"  # its incident is not stored yet: retry later, stays pending
    DEAD = "dead"  # dead-lettered (and acknowledged there)
    DB_DOWN = "db_down"  # the database, not the event, failed: stop the pass, stays pending
    FAILED = "failed"  # this delivery failed: stays pending, claimed again (and counted) later


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _after(entry_id: str) -> str:
    """The smallest stream id greater than ``entry_id``."""
    ms, seq = _id_key(entry_id)
    return f"{ms}-{seq + 1}"


def _entries(reply: Any) -> list[tuple[str, Any]]:
    """(id, fields) of an XREADGROUP reply for one stream, in either of redis-py's shapes."""
    if not reply:
        return []
    per_stream = reply.values() if isinstance(reply, dict) else (item[1] for item in reply)
    out: list[tuple[str, Any]] = []
    for entries in per_stream:
        if entries and isinstance(entries[0], list):  # RESP3 legacy shape: [[(id, fields), ...]]
            entries = entries[0]
        out.extend((redis_text(e[0]), e[1]) for e in entries or [] if e[0] is not None)
    return out


class EventConsumer:
    """Applies the stream's events to ``repository`` (an ``IncidentRepository``) as one consumer of the group."""

    def __init__(self, cluster: ClusterConfig, repository: Any, consumer_name: str,
                 redis_client: redis.Redis | None = None, *, batch: int = 128, block_ms: int = 1000,
                 claim_every_s: float | None = None, trim_every_s: float = 5.0,
                 on_applied: Callable[[BusEvent], None] | None = None) -> None:
        redis_client, self._own_client = client_for(cluster, redis_client, "consume events")
        self._redis = redis_client
        self.repository = repository
        self.name = consumer_name
        self.stream = cluster.key(cluster.events_stream)
        self.dead_stream = cluster.key(cluster.events_stream, "dead")
        self.group = cluster.consumer_group
        self.claim_idle_ms = max(1, int(cluster.claim_idle_s * 1000))
        self.max_deliveries = cluster.max_deliveries
        self.batch = batch
        self.block_ms = block_ms
        self.claim_every_s = claim_every_s if claim_every_s is not None else min(cluster.claim_idle_s / 2, 5.0)
        self.trim_every_s = trim_every_s
        self.on_applied = on_applied
        self._group_ready = False
        self._db_down = False
        self._next_claim = 0.0
        self._next_trim = 0.0
        self._retry_in = 0.0
        self._outage = Outage(f"event consumer {consumer_name}")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # metrics (written by the consumer's thread only); `collector` exports them to Prometheus
        self.applied = 0
        self.redelivered = 0
        self.dead_lettered = 0
        self.trimmed = 0
        self.redis_errors = 0
        self.last_lag: int | None = None  # from the last trim pass: entries of our group not yet acknowledged
        self.collector = ConsumerCollector(self)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "EventConsumer":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"bus-consumer-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float | None = None) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout_s if timeout_s is not None else self.block_ms / 1000 + 10)
        if self._own_client and (thread is None or not thread.is_alive()):
            self._redis.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # never let the thread die: whatever it was, try again shortly
                log.exception("event consumer %s: unexpected error", self.name)
                self._retry_in = max(self._retry_in, 1.0)
            if self._retry_in:
                self._stop.wait(self._retry_in)
                self._retry_in = 0.0

    # -- one pass --------------------------------------------------------------------------------

    def run_once(self, block_ms: int | None = None) -> int:
        """Claim stale entries (when due), read new ones, apply, acknowledge, trim (when due).
        Returns the number of entries handled; Redis errors are logged and end the pass early."""
        block = self.block_ms if block_ms is None else block_ms
        try:
            if self._db_down:
                if not self._repository_ok():
                    self._retry_in = self._outage.cap_s
                    return 0
                log.warning("event consumer %s: the database answers again", self.name)
                self._db_down = False
            self._ensure_group()
            handled = 0
            now = time.monotonic()
            if now >= self._next_claim:
                self._next_claim = now + self.claim_every_s
                handled += self._claim()
            if not self._db_down:
                reply = self._redis.xreadgroup(self.group, self.name, {self.stream: ">"}, count=self.batch,
                                               block=(block or None) if handled == 0 else None)
                handled += self._handle(_entries(reply), {})
            if time.monotonic() >= self._next_trim:
                self._next_trim = time.monotonic() + self.trim_every_s
                self.trim()
            self._outage.recovered()
            return handled
        except redis.ResponseError as e:
            if str(e).startswith("NOGROUP"):  # Redis lost the group (restarted without its data): make it again
                log.warning("event consumer %s: group %s of %s is gone; creating it again", self.name, self.group,
                            self.stream)
                self._group_ready = False
                return 0
            return self._redis_failed(e)
        except redis.RedisError as e:
            return self._redis_failed(e)

    def _redis_failed(self, error: redis.RedisError) -> int:
        self.redis_errors += 1
        self._retry_in = self._outage.failed(error)
        return 0

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            log.info("event consumer %s: created group %s on %s", self.name, self.group, self.stream)
        except redis.ResponseError as e:
            if not str(e).startswith("BUSYGROUP"):
                raise
        self._group_ready = True

    def _claim(self) -> int:
        """Take over entries idle for ``claim_idle_s`` (a dead consumer's, or ones left pending to retry)."""
        handled, start = 0, "0-0"
        for _ in range(16):  # bounded per pass; the rest comes next time
            reply = self._redis.xautoclaim(self.stream, self.group, self.name, self.claim_idle_ms,
                                           start_id=start, count=self.batch)
            start = redis_text(reply[0])
            claimed = [(redis_text(i), f) for i, f in reply[1] if i is not None]
            gone = [redis_text(i) for i in (reply[2] if len(reply) > 2 else [])]
            if gone:  # trimmed or deleted while pending; Redis dropped them from the pending list
                log.warning("event consumer %s: pending entries without data: %s", self.name, ", ".join(gone[:10]))
            if claimed:
                self.redelivered += len(claimed)
                handled += self._handle(claimed, self._deliveries([i for i, _ in claimed]))
            if start == "0-0" or self._db_down:
                break
        return handled

    def _deliveries(self, ids: list[str]) -> dict[str, int]:
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xpending_range(self.stream, self.group, min=entry_id, max=entry_id, count=1)
        counts: dict[str, int] = {}
        for entry_id, rows in zip(ids, pipe.execute()):
            if rows:
                counts[entry_id] = int(rows[0]["times_delivered"])
        return counts

    def _handle(self, entries: list[tuple[str, Any]], deliveries: dict[str, int]) -> int:
        """Apply ``entries``; ack the stored ones. ``deliveries``: counts of claimed entries (read ones: 1)."""
        acked: list[tuple[str, BusEvent]] = []
        waiting: list[tuple[str, Any, BusEvent, int]] = []
        for entry_id, fields in entries:
            count = deliveries.get(entry_id, 1)
            try:
                event = BusEvent.decode(fields)
            except BadEvent as e:
                self._dead_letter(entry_id, fields, f"malformed: {e}", count)
                continue
            if count > self.max_deliveries:  # e.g. it crashed every consumer that took it
                self._dead_letter(entry_id, fields, f"delivered {count} times", count)
                continue
            outcome = self._apply(entry_id, fields, event, count)
            if outcome is ApplyOutcome.STORED:
                acked.append((entry_id, event))
            elif outcome is ApplyOutcome.WAITING:
                waiting.append((entry_id, fields, event, count))
            elif outcome is ApplyOutcome.DB_DOWN:
                break
        # The incident may have come later in the same batch: one more try before leaving them pending.
        for entry_id, fields, event, count in waiting:
            if self._db_down:
                break
            outcome = self._apply(entry_id, fields, event, count)
            if outcome is ApplyOutcome.STORED:
                acked.append((entry_id, event))
            elif outcome is ApplyOutcome.WAITING:
                if count >= self.max_deliveries:
                    why = f"incident {event.incident_id} not stored after {count} deliveries"
                    self._dead_letter(entry_id, fields, why, count)
                else:
                    log.debug("event %s: incident %s not stored yet; retried after %d ms", entry_id,
                              event.incident_id, self.claim_idle_ms)
            # DEAD, DB_DOWN and FAILED: _apply dead-lettered it, or logged why it stays pending
        if acked:
            self._redis.xack(self.stream, self.group, *[i for i, _ in acked])
            self.applied += len(acked)
            if self.on_applied is not None:
                for _, event in acked:
                    try:
                        self.on_applied(event)
                    except Exception:
                        log.exception("event consumer %s: on_applied failed", self.name)
        return len(entries)

    def _apply(self, entry_id: str, fields: Any, event: BusEvent, count: int) -> ApplyOutcome:
        try:
            apply_event(self.repository, event)
            return ApplyOutcome.STORED
        except IncidentNotYetKnown:
            return ApplyOutcome.WAITING
        except BadEvent as e:
            self._dead_letter(entry_id, fields, f"invalid: {e}", count)
            return ApplyOutcome.DEAD
        except Exception as e:
            if not self._repository_ok():  # the database, not the event: keep it pending, wait
                log.warning("event consumer %s: database unreachable (%s); pausing", self.name, e)
                self._db_down = True
                self._retry_in = self._outage.cap_s
                return ApplyOutcome.DB_DOWN
            if count >= self.max_deliveries:
                self._dead_letter(entry_id, fields, f"{type(e).__name__}: {e}", count)
                return ApplyOutcome.DEAD
            log.warning("event %s (%s %s) failed on delivery %d of %d: %s", entry_id, event.kind,
                        event.incident_id, count, self.max_deliveries, e)
            return ApplyOutcome.FAILED

    def _repository_ok(self) -> bool:
        ping = getattr(self.repository, "ping", None)
        if ping is None:
            return True
        try:
            ping()
            return True
        except Exception:
            return False

    def _dead_letter(self, entry_id: str, fields: Any, error: str, deliveries: int) -> None:
        copy: dict[Any, Any] = dict(fields or {})
        copy.update({"dead_entry_id": entry_id, "dead_error": error[:2000], "dead_deliveries": str(deliveries),
                     "dead_consumer": self.name, "dead_at": repr(time.time())})
        pipe = self._redis.pipeline(transaction=True)  # copy and ack together, or neither
        pipe.xadd(self.dead_stream, copy, maxlen=DEAD_LETTER_MAXLEN, approximate=True)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.execute()
        self.dead_lettered += 1
        log.warning("event %s dead-lettered to %s: %s", entry_id, self.dead_stream, error)

    # -- trimming and lag ------------------------------------------------------------------------

    def trim(self) -> int:
        """Remove the entries every group on the stream has acknowledged (XTRIM MINID, exact):
        below the oldest pending id of any group, or just past the smallest last-delivered id."""
        groups = self._redis.xinfo_groups(self.stream)
        if not groups:
            return 0
        floor: str | None = None
        for g in groups:
            name = redis_text(g["name"])
            pending = int(g.get("pending") or 0)
            if pending:
                need = redis_text(self._redis.xpending(self.stream, name)["min"])
            else:
                need = _after(redis_text(g["last-delivered-id"]))
            if floor is None or _id_key(need) < _id_key(floor):
                floor = need
            if name == self.group:
                lag = g.get("lag")
                self.last_lag = None if lag is None else int(lag) + pending
        removed = int(self._redis.xtrim(self.stream, minid=floor, approximate=False))
        self.trimmed += removed
        return removed

    def lag(self) -> int | None:
        """Entries of the stream our group has not acknowledged (undelivered + pending); None if unknown."""
        try:
            for g in self._redis.xinfo_groups(self.stream):
                if redis_text(g["name"]) == self.group:
                    lag = g.get("lag")
                    return None if lag is None else int(lag) + int(g.get("pending") or 0)
        except redis.RedisError:
            return None
        return None

    def stats(self) -> dict[str, int | None]:
        return {"applied": self.applied, "redelivered": self.redelivered, "dead_lettered": self.dead_lettered,
                "trimmed": self.trimmed, "redis_errors": self.redis_errors, "lag": self.last_lag}
