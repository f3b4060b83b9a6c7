"""Source leases in a real Redis (issue 7): several LeaseManagers in one process, each with its own client.

A shared ``Readers`` registry, updated inside on_acquire/on_release, stands for the cameras being read and
records every moment a source would have been read by two workers at once. Bounds are generous multiples
of the lease time; the measured times are printed (``pytest -s``)."""
from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from streetsight.cluster.connection import fast_client
from streetsight.cluster.leases import LeaseManager
from streetsight.config import ClusterConfig
from tests.redis_server import RedisServer

LEASE_S = 2.0
SOURCES = [f"cam-{i:02d}" for i in range(12)]


class Readers:
    """Who reads which source now. on_release may take a while, like a reader thread being joined."""

    def __init__(self, release_delay_s: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.reading: dict[str, str] = {}
        self.violations: list[str] = []
        self.release_delay_s = release_delay_s

    def callbacks(self, worker: str) -> tuple[Callable[[str], None], Callable[[str], None]]:
        def on_acquire(source: str) -> None:
            with self.lock:
                other = self.reading.get(source)
                if other is not None:
                    self.violations.append(f"{worker} started {source} while {other} reads it")
                self.reading[source] = worker

        def on_release(source: str) -> None:
            time.sleep(self.release_delay_s)
            with self.lock:
                if self.reading.get(source) != worker:
                    self.violations.append(f"{worker} released {source} it was not reading")
                else:
                    del self.reading[source]

        return on_acquire, on_release

    def kill(self, worker: str) -> None:
        """The process died: its readers are gone with it."""
        with self.lock:
            for source in [s for s, w in self.reading.items() if w == worker]:
                del self.reading[source]


class Fleet:
    def __init__(self, server: RedisServer, sources: list[str], heartbeat_s: float | None = None,
                 release_delay_s: float = 0.0) -> None:
        self.cluster = ClusterConfig(redis_url=server.url, prefix=f"test-{uuid.uuid4().hex[:8]}",
                                     lease_s=LEASE_S, heartbeat_s=heartbeat_s)
        self.sources = sources
        self.readers = Readers(release_delay_s)
        self.managers: dict[str, LeaseManager] = {}  # running ones
        self._clients = []

    def add(self, worker: str, capacity: int | None = None,
            on_acquire: Callable[[str], None] | None = None) -> LeaseManager:
        client = fast_client(self.cluster)
        self._clients.append(client)
        acquire, release = self.readers.callbacks(worker)
        manager = LeaseManager(client, self.cluster, worker, self.sources, on_acquire or acquire, release,
                               capacity=capacity)
        self.managers[worker] = manager.start()
        return manager

    def remove(self, worker: str, graceful: bool) -> LeaseManager:
        manager = self.managers.pop(worker)
        if graceful:
            manager.stop()
        else:
            manager.abandon()
            self.readers.kill(worker)
        return manager

    def holdings(self) -> dict[str, set[str]]:
        return {w: m.held() for w, m in self.managers.items()}

    def consistent(self, expected_held: int | None = None) -> bool:
        """Every source held by at most one running worker, ``expected_held`` of them (default: all), and
        Redis' lease keys and the readers registry agree with the workers."""
        holdings = self.holdings()
        flat = [(s, w) for w, ss in holdings.items() for s in ss]
        if len(flat) != len({s for s, _ in flat}):
            return False
        if len(flat) != (len(self.sources) if expected_held is None else expected_held):
            return False
        any_manager = next(iter(self.managers.values()))
        return any_manager.owners() == dict(flat) and self.readers.reading == dict(flat)

    def close(self) -> None:
        for worker in list(self.managers):
            self.remove(worker, graceful=True)
        for client in self._clients:
            client.close()


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except Exception:  # Redis down while polling: keep waiting
            pass
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s:.1f} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def fleet(redis_server: RedisServer) -> Iterator[Callable[..., Fleet]]:
    fleets: list[Fleet] = []

    def make(sources: list[str] = SOURCES, **kwargs) -> Fleet:
        fleets.append(Fleet(redis_server, sources, **kwargs))
        return fleets[-1]

    yield make
    for f in fleets:
        f.close()


def test_every_source_held_by_exactly_one_worker_and_balanced(fleet) -> None:
    f = fleet()
    for w in ("w1", "w2", "w3"):
        f.add(w)
    wait_until(f.consistent, 5 * LEASE_S, "12 sources spread over 3 workers")
    holdings = f.holdings()
    assert sorted(len(ss) for ss in holdings.values()) == [4, 4, 4]
    owners = f.managers["w1"].owners()
    assert owners == {s: w for w, ss in holdings.items() for s in ss}
    assert f.managers["w2"].unassigned() == []
    live = f.managers["w3"].live_workers()
    assert set(live) == {"w1", "w2", "w3"} and all(info["capacity"] == 0 for info in live.values())
    assert all(m.assignment() == f.managers["w1"].assignment() for m in f.managers.values())
    assert f.readers.violations == []


def test_capacity_is_respected(fleet) -> None:
    f = fleet()
    f.add("small", capacity=2)
    f.add("big-1")
    f.add("big-2")
    wait_until(f.consistent, 5 * LEASE_S, "12 sources over workers of capacity 2, unlimited, unlimited")
    holdings = f.holdings()
    assert len(holdings["small"]) == 2 and len(holdings["big-1"]) == len(holdings["big-2"]) == 5
    assert f.managers["big-1"].live_workers()["small"]["capacity"] == 2

    # Too little capacity in all: 2 + 3 + 3 = 8 of 12 sources are read, the rest wait.
    short = fleet(sources=[f"street-{i}" for i in range(12)])
    for w, cap in (("a", 2), ("b", 3), ("c", 3)):
        short.add(w, capacity=cap)
    wait_until(lambda: short.consistent(expected_held=8), 5 * LEASE_S, "8 of 12 sources held")
    assert {w: len(ss) for w, ss in short.holdings().items()} == {"a": 2, "b": 3, "c": 3}
    assert len(short.managers["a"].unassigned()) == 4
    assert list(short.managers["a"].assignment().values()).count(None) == 4
    assert f.readers.violations == short.readers.violations == []


def test_dead_worker_sources_taken_over_within_the_lease_time(fleet) -> None:
    f = fleet()
    for w in ("w1", "w2", "w3"):
        f.add(w)
    wait_until(f.consistent, 5 * LEASE_S, "initial spread")
    victim = f.managers["w2"]
    orphans = victim.held()
    killed_at = time.time()
    f.remove("w2", graceful=False)  # kill -9: no release, the leases stay until they expire
    assert {s for s, w in victim.owners().items() if w == "w2"} == orphans  # its leases outlive it for now
    took = wait_until(f.consistent, 3 * LEASE_S, "w1 and w3 hold every source after w2 died")
    heartbeat = f.cluster.resolved_heartbeat_s()
    print(f"\ntakeover after kill -9: {took:.2f} s (lease {LEASE_S} s, heartbeat {heartbeat:.2f} s)")
    assert "w2" not in f.managers["w1"].live_workers()
    events = [t for m in f.managers.values() for t in m.takeovers if t.source in orphans and t.at >= killed_at]
    assert {t.source for t in events} >= orphans
    assert all(t.from_worker == "w2" for t in events if t.source in orphans)
    assert f.readers.violations == []


def test_joining_worker_rebalances_without_two_readers(fleet) -> None:
    f = fleet(release_delay_s=0.05)  # stopping a reader takes a moment, as a real one does
    for w in ("w1", "w2", "w3"):
        f.add(w)
    wait_until(f.consistent, 5 * LEASE_S, "initial spread")
    f.add("w4")
    took = wait_until(lambda: f.consistent() and len(f.holdings()["w4"]) > 0, 5 * LEASE_S, "rebalance to w4")
    print(f"\nrebalance after a join: {took:.2f} s")
    assert max(len(ss) for ss in f.holdings().values()) <= math.ceil(len(SOURCES) / 4)
    # More churn: a fifth joins, one leaves gracefully, one dies.
    f.add("w5")
    wait_until(lambda: f.consistent() and len(f.holdings()["w5"]) > 0, 5 * LEASE_S, "rebalance to w5")
    f.remove("w1", graceful=True)
    wait_until(f.consistent, 5 * LEASE_S, "w1's sources taken over")
    f.remove("w3", graceful=False)
    wait_until(f.consistent, 5 * LEASE_S, "w3's sources taken over")
    assert f.readers.violations == []


def test_redis_restart_keeps_one_holder_per_source(fleet, redis_server: RedisServer) -> None:
    f = fleet()
    for w in ("w1", "w2", "w3"):
        f.add(w)
    wait_until(f.consistent, 5 * LEASE_S, "initial spread")
    time.sleep(0.3)
    redis_server.restart()  # SIGTERM: Redis flushes its AOF, leases and registrations survive
    time.sleep(LEASE_S)
    took = wait_until(f.consistent, 5 * LEASE_S, "one holder per source after the restart")
    print(f"\nsettled {took:.2f} s after the restart plus {LEASE_S} s")
    assert f.readers.violations == []


def test_redis_outage_longer_than_the_lease_fences_then_recovers(fleet, redis_server: RedisServer) -> None:
    f = fleet()
    for w in ("w1", "w2", "w3"):
        f.add(w)
    wait_until(f.consistent, 5 * LEASE_S, "initial spread")
    redis_server.stop()
    down_at = time.monotonic()
    fenced = wait_until(lambda: not any(f.holdings().values()), 2 * LEASE_S, "every worker fenced itself")
    print(f"\nall workers stopped reading {fenced:.2f} s after Redis went away (lease {LEASE_S} s)")
    assert f.readers.reading == {}
    # Stay down past the lease, so that a stale lease would have expired in Redis by now.
    time.sleep(max(0.0, LEASE_S + 0.5 - (time.monotonic() - down_at)))
    assert not any(f.holdings().values())
    redis_server.start()
    back = wait_until(f.consistent, 5 * LEASE_S, "every source held again after Redis came back")
    print(f"every source held again {back:.2f} s after Redis came back")
    assert all(m.running() for m in f.managers.values())
    assert f.readers.violations == []


def test_graceful_stop_hands_over_before_the_lease_runs_out(fleet) -> None:
    f = fleet(heartbeat_s=0.4)
    for w in ("w1", "w2", "w3"):
        f.add(w)
    wait_until(f.consistent, 5 * LEASE_S, "initial spread")
    leaving = f.managers["w3"]
    start = time.monotonic()
    f.remove("w3", graceful=True)
    assert leaving.held() == set() and "w3" not in f.readers.reading.values()
    assert "w3" not in set(leaving.owners().values())  # leases deleted, not left to expire
    assert "w3" not in leaving.live_workers()
    took = time.monotonic() - start + wait_until(f.consistent, 3 * LEASE_S, "w1 and w2 hold every source")
    print(f"\ntakeover after a graceful stop: {took:.2f} s (lease {LEASE_S} s)")
    assert took < LEASE_S  # the others did not wait for the lease to expire
    assert f.readers.violations == []


def test_failing_on_acquire_does_not_kill_the_thread(fleet) -> None:
    f = fleet(sources=SOURCES[:4])
    failures = {"count": 0}
    acquire, _ = f.readers.callbacks("solo")

    def flaky(source: str) -> None:
        if source == "cam-01" and failures["count"] < 2:
            failures["count"] += 1
            raise RuntimeError("camera refused the connection")
        acquire(source)

    m = f.add("solo", on_acquire=flaky)
    wait_until(lambda: m.held() >= {"cam-00", "cam-02", "cam-03"}, 5 * LEASE_S, "the good sources held")
    wait_until(f.consistent, 10 * LEASE_S, "the flaky source held after its retries")
    assert failures["count"] == 2 and m.running()
    assert f.readers.violations == []
