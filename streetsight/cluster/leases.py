"""Source leases in Redis: each source is read by exactly one live worker at a time (issue 7).

Keys (``cluster.key(...)``, prefix ``streetsight`` by default):

- ``<prefix>:workers``: ZSET of live workers, scored by their registration's expiry in ms (Redis ``TIME``);
- ``<prefix>:worker:<id>``: hash of a worker's capacity, host, pid, started (expires with it);
- ``<prefix>:lease:<source>``: the lease, value = the holder's worker id, ``PX`` = ``lease_s``.

Each heartbeat a worker renews its leases (compare-and-PEXPIRE), registers itself and drops expired
workers, computes ``assign()`` over the live workers, releases what now belongs to another worker and
acquires what is free and belongs to itself. Safety, never two readers of one camera:

- a lease is taken only when it is free (``SET NX`` semantics, in a script that also keeps a lease that
  already names this worker, e.g. one whose renewal reply was lost);
- a holder stops reading (``on_release`` returns) before it deletes its lease;
- self-fencing: a source whose lease was not renewed for ``lease_s - heartbeat_s`` by the local monotonic
  clock is released locally (a watchdog thread does it, so a beat stuck in a Redis call cannot delay it)
  before the lease can expire in Redis and another worker take it.

Liveness: a dead worker's registration and leases run out ``lease_s`` after its last beat; the others take
its sources at their next beat, so a takeover takes at most about ``lease_s + heartbeat_s``.

All callbacks run under one lock, one at a time, never concurrently for this manager.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import RedisError

from streetsight.cluster.assignment import assign
from streetsight.cluster.connection import redis_text
from streetsight.config import ClusterConfig

log = logging.getLogger(__name__)

# Compare-and-PEXPIRE of every held lease: returns, per key, the holder it saw ('' when none); renewed iff
# that equals ARGV[1].
_RENEW = """
local out = {}
for i, key in ipairs(KEYS) do
  local holder = redis.call('GET', key)
  if holder == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]) end
  out[i] = holder or ''
end
return out
"""

# Register this worker, drop expired ones, return {now_ms, {expired ids}, {id, capacity, id, capacity...}}.
# Other workers' hashes are addressed by prefix (fine on a single Redis, not on Redis Cluster).
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], expires, ARGV[1])
redis.call('HSET', KEYS[2], 'capacity', ARGV[3], 'host', ARGV[4], 'pid', ARGV[5], 'started', ARGV[6],
           'expires_ms', expires)
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[2]))
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
for _, id in ipairs(dead) do redis.call('DEL', ARGV[7] .. id) end
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now) end
local live = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  table.insert(live, id)
  table.insert(live, redis.call('HGET', ARGV[7] .. id, 'capacity') or '0')
end
return {now, dead, live}
"""

# Take a free lease (SET NX PX), or keep one that already names this worker. 1: ours now; 0: someone else's.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Compare-and-DEL of every key that still names this worker; returns how many were deleted.
_RELEASE = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n
"""

_BACKOFF_MAX_S = 60.0  # longest wait before retrying a source whose on_acquire failed


@dataclass(frozen=True)
class Takeover:
    """A source this worker started reading; ``from_worker`` is the last other holder seen in Redis."""

    source: str
    from_worker: str | None
    at: float  # time.time() when on_acquire returned



class LeaseManager:
    """Holds this worker's share of ``sources`` through Redis leases; see the module docstring.

    ``on_acquire(source)`` starts reading a camera and should return quickly (start a reader thread);
    ``on_release(source)`` stops it and returns only when reading has stopped. Both run on the beat
    thread (or the fencing watchdog), so they should take well under a heartbeat; a beat spends at most
    half a heartbeat on moves and leaves the rest to the next one.

    ``capacity`` (default ``cluster.capacity``, 0: no limit; a GPU budget is expressed as the number of
    sources it carries) is published with the registration and respected by every worker's assignment."""

    def __init__(self, redis_client: redis.Redis, cluster: ClusterConfig, worker_id: str,
                 sources: Sequence[str], on_acquire: Callable[[str], None], on_release: Callable[[str], None],
                 capacity: int | None = None) -> None:
        self.cluster = cluster
        self.worker_id = worker_id
        self.sources = sorted(set(sources))
        self.capacity = cluster.capacity if capacity is None else capacity
        self.lease_s = cluster.lease_s
        self.heartbeat_s = cluster.resolved_heartbeat_s()
        self._fence_after_s = self.lease_s - self.heartbeat_s
        self._lease_ms = int(self.lease_s * 1000)
        self._r = redis_client
        self._on_acquire = on_acquire
        self._on_release = on_release
        self._keys = {s: cluster.key("lease", s) for s in self.sources}
        self._workers_key = cluster.key("workers")
        self._info_prefix = cluster.key("worker", "")
        self._info = (str(self.capacity), socket.gethostname(), str(os.getpid()), f"{time.time():.3f}")
        self._renew = redis_client.register_script(_RENEW)
        self._heartbeat = redis_client.register_script(_HEARTBEAT)
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._release = redis_client.register_script(_RELEASE)

        self._lock = threading.RLock()  # guards the state below and serialises the callbacks
        self._held: set[str] = set()
        self._renewed_at: dict[str, float] = {}  # monotonic time before the last successful SET/PEXPIRE
        self._last_owner: dict[str, str] = {}  # last holder seen in Redis, for takeover records
        self._failures: dict[str, int] = {}  # consecutive on_acquire failures
        self._retry_at: dict[str, float] = {}
        self._assignment: dict[str, str | None] = {}
        self.takeovers: list[Takeover] = []
        # The first good beat after start or an outage only registers, so that every worker's next
        # assignment sees the others and sources do not bounce between the first and the rest.
        self._settled = False
        self._down_since: float | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> "LeaseManager":
        if self._threads:
            raise RuntimeError("LeaseManager already started")
        self._threads = [threading.Thread(target=self._beat_loop, name=f"leases-{self.worker_id}", daemon=True),
                         threading.Thread(target=self._watchdog_loop, name=f"fence-{self.worker_id}", daemon=True)]
        for t in self._threads:
            t.start()
        log.info("worker %s: leases started (%d sources, capacity %s, lease %.1f s, heartbeat %.2f s)",
                 self.worker_id, len(self.sources), self.capacity or "unlimited", self.lease_s, self.heartbeat_s)
        return self

    def stop(self) -> None:
        """Graceful: stop reading every held source, then delete its leases and its registration, so the
        other workers take over at their next beat instead of after the lease time."""
        self._join()
        released: list[str] = []
        failed: set[str] = set()
        with self._lock:
            for source in sorted(self._held):
                if self._call_release(source, "worker stopping"):
                    released.append(source)
                else:
                    failed.add(source)
            self._held.clear()
            self._renewed_at.clear()
        try:
            # Also leases that name us without being held (e.g. fenced), but none whose reader may still run.
            mine = {s for s, w in self._mget().items() if w == self.worker_id}
            keys = [self._keys[s] for s in sorted((set(released) | mine) - failed)]
            if keys:
                self._release(keys=keys, args=[self.worker_id])
            self._r.zrem(self._workers_key, self.worker_id)
            self._r.delete(self._info_prefix + self.worker_id)
            log.info("worker %s: stopped; released %d sources", self.worker_id, len(released))
        except RedisError as exc:
            log.warning("worker %s: stopped, but Redis did not take the release (%s); its leases expire within "
                        "%.1f s", self.worker_id, exc, self.lease_s)

    def if_held(self, source: str, action: Callable[[], None]) -> bool:
        """Run ``action`` while ``source`` is held, serialised with the lease callbacks (so a camera being
        restarted cannot be given away half-way). False when it is not held."""
        with self._lock:
            if source not in self._held:
                return False
            action()
            return True

    def set_sources(self, sources: Sequence[str]) -> list[str]:
        """The set changed (camera records): new sources are assigned from the next beat; held ones that left
        the set stop now (``on_release``) and their leases are deleted. Returns the sources dropped."""
        new = sorted(set(sources))
        dropped: list[str] = []
        with self._lock:
            self._keys.update({s: self.cluster.key("lease", s) for s in new})  # never removed: a beat may hold the old list
            self.sources = new
            for source in sorted(self._held - set(new)):
                if self._drop(source, "no longer among the sources"):
                    dropped.append(source)
        for source in dropped:
            try:
                self._release(keys=[self._keys[source]], args=[self.worker_id])
            except RedisError as exc:
                log.warning("worker %s: lease of %s left to expire (Redis: %s)", self.worker_id, source, exc)
        return dropped

    def abandon(self) -> None:
        """For tests: stop the threads with no callbacks and no Redis clean-up, as ``kill -9`` would."""
        self._join()

    def _join(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join()

    # -- inspection ----------------------------------------------------------------------------------

    def running(self) -> bool:
        """True while the beat and the fencing watchdog threads are alive (for health checks)."""
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def owners(self) -> dict[str, str]:
        """Source -> worker id holding its lease in Redis now (one MGET); free sources are left out."""
        return {s: w for s, w in self._mget().items() if w is not None}

    def unassigned(self) -> list[str]:
        """Sources that no worker holds a lease on now."""
        owners = self.owners()
        return [s for s in self.sources if s not in owners]

    def assignment(self) -> dict[str, str | None]:
        """The assignment this worker computed at its last beat (None: no capacity left for the source)."""
        with self._lock:
            return dict(self._assignment)

    def live_workers(self) -> dict[str, dict[str, Any]]:
        """Registered, unexpired workers: id -> {capacity, host, pid, started, expires_ms}."""
        secs, micros = self._r.time()
        now_ms = int(secs) * 1000 + int(micros) // 1000
        ids = [redis_text(w) for w in self._r.zrangebyscore(self._workers_key, now_ms, "+inf")]
        pipe = self._r.pipeline(transaction=False)
        for w in ids:
            pipe.hgetall(self._info_prefix + w)
        out: dict[str, dict[str, Any]] = {}
        for w, raw in zip(ids, pipe.execute()):
            info = {redis_text(k): redis_text(v) for k, v in raw.items()}
            out[w] = {"capacity": int(info.get("capacity", 0)), "host": info.get("host"),
                      "pid": int(info["pid"]) if "pid" in info else None,
                      "started": float(info["started"]) if "started" in info else None,
                      "expires_ms": int(info["expires_ms"]) if "expires_ms" in info else None}
        return out

    # -- the beat ------------------------------------------------------------------------------------

    def _beat_loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self._beat()
                if self._down_since is not None:
                    log.info("worker %s: Redis reachable again after %.1f s", self.worker_id,
                             time.monotonic() - self._down_since)
                    self._down_since = None
            except RedisError as exc:
                if self._down_since is None:  # once per outage
                    self._down_since = time.monotonic()
                    log.warning("worker %s: Redis unreachable (%s); keeps beating, stops reading its sources "
                                "after %.1f s without renewal", self.worker_id, exc, self._fence_after_s)
                self._settled = False
            except Exception:  # a bug or a callback's error that escaped: log it, keep the worker alive
                log.exception("worker %s: heartbeat failed", self.worker_id)
            next_at = max(next_at + self.heartbeat_s, time.monotonic())
            self._stop.wait(next_at - time.monotonic())

    def _beat(self) -> None:
        # Slow callbacks must not delay the next renewal: past this point, moves wait for the next beat
        # (safe either way: a source not yet released stays read by its holder only).
        budget_end = time.monotonic() + self.heartbeat_s / 2
        self._fence_overdue()
        # Renew before registering: a dead worker's leases then run out no later than its registration,
        # so the beat that drops it from the live set also finds its sources free.
        self._renew_held()
        live = self._register()
        owners = self._mget()
        try:
            if not self._settled:
                self._settled = True
                return
            assignment = assign(self.sources, live)
            with self._lock:
                self._assignment = assignment
            self._release_foreign(assignment, owners, budget_end)
            self._acquire_mine(assignment, owners, budget_end)
        finally:
            for source, worker in owners.items():
                if worker is not None and worker != self.worker_id:
                    self._last_owner[source] = worker

    def _renew_held(self) -> None:
        held = sorted(self.held())
        if not held:
            return
        sent = time.monotonic()
        holders = self._renew(keys=[self._keys[s] for s in held], args=[self.worker_id, self._lease_ms])
        with self._lock:
            for source, holder in zip(held, holders):
                if source not in self._held:  # fenced meanwhile; the next beat re-takes the lease
                    continue
                holder = redis_text(holder)
                if holder == self.worker_id:
                    self._renewed_at[source] = sent
                else:
                    self._drop(source, f"lease lost ({'now held by ' + holder if holder else 'expired'})")

    def _register(self) -> dict[str, int]:
        _now, dead, live = self._heartbeat(
            keys=[self._workers_key, self._info_prefix + self.worker_id],
            args=[self.worker_id, self._lease_ms, *self._info, self._info_prefix])
        for worker in dead:
            log.info("worker %s: worker %s expired (no heartbeat for %.1f s)", self.worker_id, redis_text(worker),
                     self.lease_s)
        flat = [redis_text(v) for v in live]
        return {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2)}

    def _mget(self) -> dict[str, str | None]:
        if not self.sources:
            return {}
        values = self._r.mget([self._keys[s] for s in self.sources])
        return {s: (redis_text(v) if v is not None else None) for s, v in zip(self.sources, values)}

    def _release_foreign(self, assignment: dict[str, str | None], owners: dict[str, str | None],
                         budget_end: float) -> None:
        """Stop reading, then give back, every source now assigned to another worker (or to nobody)."""
        for source in self.sources:
            if time.monotonic() > budget_end:
                return
            target = assignment.get(source)
            if target == self.worker_id:
                continue
            with self._lock:
                was_held = source in self._held
                stopped = was_held and self._drop(source, f"reassigned to {target or 'nobody (no capacity left)'}")
            if was_held and not stopped:
                continue  # on_release failed: let the lease run out instead of deleting it under a reader
            if was_held or owners.get(source) == self.worker_id:
                self._release(keys=[self._keys[source]], args=[self.worker_id])

    def _acquire_mine(self, assignment: dict[str, str | None], owners: dict[str, str | None],
                      budget_end: float) -> None:
        for source in self.sources:
            if self._stop.is_set() or time.monotonic() > budget_end:
                return
            if assignment.get(source) != self.worker_id or owners.get(source) not in (None, self.worker_id):
                continue  # not ours, or its previous holder has not given it back yet
            with self._lock:
                if source in self._held or time.monotonic() < self._retry_at.get(source, 0.0):
                    continue
                if self.capacity and len(self._held) >= self.capacity:
                    return
            sent = time.monotonic()
            if not self._acquire(keys=[self._keys[source]], args=[self.worker_id, self._lease_ms]):
                continue  # taken by another worker between the MGET and now
            if not self._start(source, sent):
                self._release(keys=[self._keys[source]], args=[self.worker_id])

    # -- state changes (callers hold no Redis call in flight under the lock) -------------------------

    def _start(self, source: str, sent: float) -> bool:
        with self._lock:
            if self._stop.is_set() or time.monotonic() >= sent + self._fence_after_s:
                return False  # stopping, or the fresh lease is already too old to vouch for
            previous = self._last_owner.get(source)
            try:
                self._on_acquire(source)
            except Exception as exc:
                failures = self._failures.get(source, 0) + 1
                self._failures[source] = failures
                delay = min(self.heartbeat_s * 2 ** (failures - 1), _BACKOFF_MAX_S)
                self._retry_at[source] = time.monotonic() + delay
                log.error("worker %s: could not start %s (%s: %s); lease given back, retry in %.1f s",
                          self.worker_id, source, type(exc).__name__, exc, delay, exc_info=failures == 1)
                return False
            self._failures.pop(source, None)
            self._retry_at.pop(source, None)
            self._held.add(source)
            self._renewed_at[source] = sent
            self.takeovers.append(Takeover(source, previous, time.time()))
        if previous is not None:
            log.info("worker %s: took %s over from %s", self.worker_id, source, previous)
        else:
            log.info("worker %s: took %s", self.worker_id, source)
        return True

    def _drop(self, source: str, reason: str) -> bool:
        """Stop reading ``source`` locally (caller holds the lock). False if on_release raised."""
        self._held.discard(source)
        self._renewed_at.pop(source, None)
        return self._call_release(source, reason)

    def _call_release(self, source: str, reason: str) -> bool:
        log.info("worker %s: released %s: %s", self.worker_id, source, reason)
        try:
            self._on_release(source)
            return True
        except Exception:
            log.exception("worker %s: on_release(%s) failed; its lease is left to expire", self.worker_id, source)
            return False

    # -- self-fencing --------------------------------------------------------------------------------

    def _fence_overdue(self) -> None:
        with self._lock:
            now = time.monotonic()
            for source in sorted(self._held):
                age = now - self._renewed_at.get(source, 0.0)
                if age >= self._fence_after_s:
                    self._drop(source, f"fenced: no lease renewal for {age:.1f} s (Redis unreachable or "
                                       "process paused); another worker may take it over")
                    self._settled = False

    def _watchdog_loop(self) -> None:
        while not self._stop.is_set():
            self._fence_overdue()
            with self._lock:
                due = min((self._renewed_at[s] + self._fence_after_s for s in self._held if s in self._renewed_at),
                          default=None)
            # A new lease's deadline lies at least lease_s - heartbeat_s > heartbeat_s ahead, so waking up
            # every heartbeat at the latest never misses one.
            wait = self.heartbeat_s if due is None else min(max(due - time.monotonic(), 0.005), self.heartbeat_s)
            self._stop.wait(wait)
