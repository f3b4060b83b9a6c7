"""Moving cameras' findings merged across workers through a real Redis (`RedisGeoMerger`).

Each "worker" is its own `RedisGeoMerger` on the same Redis, as two `serve --role worker` processes
would have; the rules and detections are those of the in-process tests (tests/test_rules_enforcement.py).
"""
from __future__ import annotations

import logging
import uuid

import pytest
import redis

from detectors.context import FrameContext
from detectors.sighting import SightingRule
from streetsight.cluster.geo_merge import RedisGeoMerger
from streetsight.cluster.connection import fast_client
from streetsight.config import ClusterConfig
from tests.redis_server import RedisServer
from tests.rule_helpers import H, W, dets, opened
from tests.test_rules_enforcement import ALL, CAR, P, pos
from vision.zones import Zone

SEEN = [dets((1, "car", CAR, 0.7))] * 4


@pytest.fixture
def cluster(redis_server: RedisServer) -> ClusterConfig:
    return ClusterConfig(redis_url=redis_server.url, prefix=f"test-{uuid.uuid4().hex[:8]}")


def worker(cluster: ClusterConfig) -> RedisGeoMerger:
    return RedisGeoMerger(fast_client(cluster), cluster)  # the fast-failing client a worker gives it


def observe(rule: SightingRule, frames, positions, t0: float = 0.0, fps: float = 2.0) -> list:
    return [e for k, (d, p) in enumerate(zip(frames, positions))
            for e in rule.observe(FrameContext(t0 + k / fps, W, H, position=p), d)]


def test_two_workers_devices_at_one_place_make_one_incident(cluster: ClusterConfig) -> None:
    a = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=worker(cluster))
    b = SightingRule("illegal_parking", "car-7", [ALL], P, merger=worker(cluster))
    first = opened(observe(a, SEEN, [pos(30.0, 120.0, 1000 + k) for k in range(4)]))
    # 10 m away, 2 minutes later, another device read by another worker
    second = opened(observe(b, SEEN, [pos(30.00009, 120.0, 1120 + k) for k in range(4)]))
    assert len(first) == 1 and second == []
    ended = [e.incident for e in a.finish() if e.kind == "ended"]
    assert [i.id for i in ended] == [first[0].id]
    assert ended[0].extra["devices"] == ["bodycam-1", "car-7"]  # the joining worker's device is listed
    assert [e.kind for e in b.finish()] == []  # the other worker never owned it: nothing to end there


def test_far_away_other_type_or_outside_the_window_are_separate(cluster: ClusterConfig) -> None:
    a = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=worker(cluster))
    assert len(opened(observe(a, SEEN, [pos(30.0, 120.0, 1000 + k) for k in range(4)]))) == 1
    other = worker(cluster)
    far = SightingRule("illegal_parking", "car-7", [ALL], P, merger=other)  # 500 m away
    assert len(opened(observe(far, SEEN, [pos(30.0045, 120.0, 1100 + k) for k in range(4)]))) == 1
    late = SightingRule("illegal_parking", "car-8", [ALL], P, merger=other)  # same place, after the window
    assert len(opened(observe(late, SEEN, [pos(30.0, 120.0, 5000 + k) for k in range(4)]))) == 1
    zone = Zone.from_points("view", ["illegal_parking", "non_motor_parking"], [[0, 0], [1, 0], [1, 1], [0, 1]])
    bikes = SightingRule("non_motor_parking", "car-9", [zone], P.__class__(classes=("car",)), merger=other)
    assert len(opened(observe(bikes, SEEN, [pos(30.0, 120.0, 1010 + k) for k in range(4)]))) == 1


def test_stale_findings_are_pruned_from_the_index(cluster: ClusterConfig) -> None:
    merger = worker(cluster)
    a = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=merger)
    first = opened(observe(a, SEEN, [pos(30.0, 120.0, 1000 + k) for k in range(4)]))[0]
    client = redis.Redis.from_url(cluster.redis_url)
    index = cluster.key("geo", "idx", "illegal_parking")
    assert sorted(client.zrange(index, 0, -1)) == [first.id.encode(), f"{first.id}@latest".encode()]
    # a finding far away and two merge windows later: the first (both its points) is forgotten by the index
    b = SightingRule("illegal_parking", "car-7", [ALL], P, merger=merger)
    observe(b, SEEN[:3], [pos(31.0, 121.0, 1000 + 3 * P.merge_window_s + k) for k in range(3)])
    assert client.zcard(index) == 1


def test_a_van_seen_along_a_walk_on_one_worker_is_joined_near_its_last_sighting_on_another(
        cluster: ClusterConfig) -> None:
    """Worker A's device finds the van and keeps seeing it while walking 60 m on; worker B's device confirms it
    61 m from where it was found, 1 m from where A last saw it: one incident (the finding's latest point)."""
    from tests.test_rules_enforcement import walk_past

    a = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=worker(cluster))
    first = opened(walk_past(a, 60))
    b = SightingRule("illegal_parking", "car-7", [ALL], P, merger=worker(cluster))
    assert opened(walk_past(b, 6, start_m=61, t0=30.5, track=5)) == []
    # 50 m beyond the last sighting: another vehicle
    c = SightingRule("illegal_parking", "car-8", [ALL], P, merger=worker(cluster))
    assert len(opened(walk_past(c, 6, start_m=110, t0=31.0, track=6))) == 1
    ended = [e.incident for e in a.finish() if e.kind == "ended"]
    assert [i.id for i in ended] == [first[0].id] and ended[0].extra["devices"] == ["bodycam-1", "car-7"]


def test_handed_over_incident_continues_on_the_new_worker(cluster: ClusterConfig) -> None:
    old = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=worker(cluster))
    inc = opened(observe(old, SEEN, [pos(30.0, 120.0, 1000 + k) for k in range(4)]))[0]
    # the worker dies; another takes the device over and is handed the open incident
    new = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=worker(cluster))
    assert new.adopt(inc)
    assert not new.adopt(type(inc)(**{**inc.__dict__, "type": "street_vending"}))
    events = observe(new, SEEN, [pos(30.0, 120.0, 1030 + k) for k in range(4)], t0=500.0)
    assert opened(events) == []
    ended = [e.incident for e in new.finish() if e.kind == "ended"]
    assert [i.id for i in ended] == [inc.id]
    assert 500.0 <= ended[0].ended_at <= 502.0  # the new worker's media clock


def test_redis_down_merges_within_the_worker_and_never_raises(
        cluster: ClusterConfig, redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    merger = worker(cluster)
    redis_server.stop()
    a = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=merger)
    b = SightingRule("illegal_parking", "bodycam-2", [ALL], P, merger=merger)
    with caplog.at_level(logging.WARNING, logger="streetsight.cluster.geo_merge"):
        first = opened(observe(a, SEEN, [pos(30.0, 120.0, 1000 + k) for k in range(4)]))
        second = opened(observe(b, SEEN, [pos(30.00009, 120.0, 1010 + k) for k in range(4)]))
        ended = [e.incident for e in a.finish() if e.kind == "ended"]
    assert len(first) == 1 and second == []
    assert ended[0].extra["devices"] == ["bodycam-1", "bodycam-2"]
    warnings = [r for r in caplog.records if r.name == "streetsight.cluster.geo_merge"]
    assert len(warnings) == 1 and "within this worker only" in warnings[0].getMessage()


def test_two_workers_confirming_at_once_open_one_incident(cluster: ClusterConfig) -> None:
    """Both devices reach their third sighting in the same instant, on two workers: one claim wins."""
    import threading

    rules = [SightingRule("illegal_parking", f"bodycam-{k}", [ALL], P, merger=worker(cluster)) for k in range(8)]
    start = threading.Barrier(len(rules))
    results: dict[str, list] = {}

    def run(rule: SightingRule) -> None:
        positions = [pos(30.0 + 0.00001 * int(rule.source_id[-1]), 120.0, 1000 + k) for k in range(3)]
        observe(rule, SEEN[:2], positions[:2])
        start.wait()
        results[rule.source_id] = observe(rule, SEEN[2:3], positions[2:], t0=1.0)

    threads = [threading.Thread(target=run, args=(r,)) for r in rules]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == len(rules)
    assert len([i for events in results.values() for i in opened(events)]) == 1
