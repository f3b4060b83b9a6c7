"""The Redis event bus (issue 7): EventPublisher (worker, durable outbox) -> stream -> EventConsumer (API).

Real parts only: Debian's redis-server (AOF, fsync always) and a SQLite IncidentRepository.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import sessionmaker

from api.db import create_engine_for, init_db
from api.repository import IncidentRepository
from api.schemas import EvidenceItemIn, IncidentCreate
from streetsight.cluster.bus import EventConsumer, EventPublisher
from streetsight.cluster.bus_events import BadEvent, BusEvent, IncidentNotYetKnown, apply_event
from streetsight.config import ClusterConfig
from tests.redis_server import RedisServer


# -- helpers ----------------------------------------------------------------------------------------


def incident(i: int) -> IncidentCreate:
    return IncidentCreate(id=f"inc_{i:04d}", type="illegal_parking", source=f"cam{i % 3}", zone="kerb",
                          started_at=10.0 + i, confirmed_at=25.0 + i, class_name="car", box=(1, 2, 30, 40),
                          score=0.8, track_id=i, frame_size=(320, 240))


def evidence(kind: str, i: int) -> EvidenceItemIn:
    ext, ctype = ("mp4", "video/mp4") if kind == "clip" else ("jpg", "image/jpeg")
    return EvidenceItemIn(kind=kind, key=f"cam/inc_{i:04d}/{kind}.{ext}", sha256=f"{i:064x}", size=100 + i,
                          content_type=ctype)


class Recorded:
    """Counts the repository's change notifications: a repeated event must not produce a second one."""

    def __init__(self, repo: IncidentRepository) -> None:
        self.added: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()
        self.evidence: Counter[str] = Counter()
        repo.on_added(lambda out: self.added.update([out.id]))
        repo.on_ended(lambda out: self.ended.update([out.id]))
        repo.on_evidence(lambda out: self.evidence.update([out.id]))


@pytest.fixture
def repo(tmp_path: Path) -> IncidentRepository:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'records.sqlite'}")
    init_db(engine)
    return IncidentRepository(sessionmaker(engine, expire_on_commit=False))


@pytest.fixture
def cluster(redis_server: RedisServer) -> ClusterConfig:
    return ClusterConfig(redis_url=redis_server.url, prefix="t", claim_idle_s=0.3, max_deliveries=5)


@pytest.fixture
def client(redis_server: RedisServer):
    c = redis.Redis.from_url(redis_server.url, decode_responses=True, encoding_errors="replace")
    yield c
    c.close()


@pytest.fixture
def make_publisher(cluster: ClusterConfig, tmp_path: Path):
    made: list[EventPublisher] = []

    def make(worker: str = "w1", start: bool = True, **kw) -> EventPublisher:
        p = EventPublisher(cluster, worker, tmp_path / f"outbox-{worker}.sqlite", **kw)
        made.append(p)
        return p.start() if start else p

    yield make
    for p in made:
        p.close(timeout_s=2.0)


@pytest.fixture
def make_consumer(cluster: ClusterConfig, repo: IncidentRepository):
    made: list[EventConsumer] = []

    def make(name: str = "api1", cfg: ClusterConfig | None = None, **kw) -> EventConsumer:
        kw.setdefault("block_ms", 50)
        c = EventConsumer(cfg or cluster, repo, name, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop(timeout_s=5.0)


def until(cond: Callable[[], bool], timeout_s: float = 8.0, step: Callable[[], object] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        if step is not None:
            step()
        else:
            time.sleep(0.02)


def pending_count(client: redis.Redis, cluster: ClusterConfig) -> int:
    return int(client.xpending(cluster.key(cluster.events_stream), cluster.consumer_group)["pending"])


# -- tests ------------------------------------------------------------------------------------------


def test_mixed_events_are_stored_exactly_once_and_the_stream_is_trimmed(
        repo, cluster, client, make_publisher, make_consumer) -> None:
    seen = Recorded(repo)
    consumer = make_consumer(trim_every_s=3600)
    consumer.run_once(block_ms=1)  # creates the group
    pub = make_publisher()
    n = 40
    for i in range(n):
        pub.add(incident(i))
        pub.attach_evidence(f"inc_{i:04d}", evidence("snapshot", i))
        pub.attach_evidence(f"inc_{i:04d}", evidence("clip", i))
        if i % 2 == 0:
            pub.mark_ended(f"inc_{i:04d}", 90.0 + i)
    assert pub.wait_drained(10)
    # a retried XADD (reply lost) puts the same events in the stream again
    stream = cluster.key(cluster.events_stream)
    for ev in (BusEvent.opened(incident(0), "w1"), BusEvent.evidence("inc_0000", evidence("clip", 0), "w1"),
               BusEvent.ended("inc_0000", 90.0, "w1")):
        client.xadd(stream, ev.encode())
        client.xadd(stream, ev.encode())
    total = n * 3 + n // 2 + 6
    until(lambda: consumer.applied >= total, step=lambda: consumer.run_once(block_ms=20))

    assert consumer.applied == total and consumer.dead_lettered == 0
    assert repo.count() == n
    for i in range(n):
        out = repo.get(f"inc_{i:04d}")
        assert out is not None and set(out.evidence) == {"snapshot", "clip"}
        assert out.ended_at == (90.0 + i if i % 2 == 0 else None)
    assert all(v == 1 for v in seen.added.values()) and len(seen.added) == n
    assert all(v == 1 for v in seen.ended.values()) and len(seen.ended) == n // 2
    assert all(v == 2 for v in seen.evidence.values()) and len(seen.evidence) == n  # snapshot + clip, no repeats
    assert pending_count(client, cluster) == 0
    assert consumer.trim() == total
    assert client.xlen(stream) == 0 and consumer.lag() == 0
    assert pub.published == total - 6 and pub.backlog() == 0


def test_a_dead_consumers_entries_are_claimed_and_stored_once(
        repo, cluster, client, make_publisher, make_consumer) -> None:
    seen = Recorded(repo)
    stream = cluster.key(cluster.events_stream)
    client.xgroup_create(stream, cluster.consumer_group, id="0", mkstream=True)
    pub = make_publisher()
    n = 25
    for i in range(n):
        pub.add(incident(i))
    assert pub.wait_drained(10)
    # "api-dead" reads everything, then dies before acknowledging anything
    got = client.xreadgroup(cluster.consumer_group, "api-dead", {stream: ">"}, count=1000)
    assert len(got[0][1]) == n

    live = make_consumer("api-live")
    assert live.run_once(block_ms=1) == 0  # nothing new; nothing idle long enough yet
    until(lambda: live.applied >= n, step=lambda: live.run_once(block_ms=50))
    assert live.redelivered == n and live.applied == n
    assert repo.count() == n and len(seen.added) == n and set(seen.added.values()) == {1}
    assert pending_count(client, cluster) == 0


def test_publishing_while_redis_is_down_delivers_everything_later(
        redis_server, repo, cluster, client, make_publisher, make_consumer) -> None:
    consumer = make_consumer(trim_every_s=0.5).start()
    pub = make_publisher()
    pub.add(incident(0))
    until(lambda: repo.get("inc_0000") is not None)

    redis_server.stop()
    for i in range(1, 11):  # the recorder's calls: nothing raised, nothing waits for Redis
        pub.add(incident(i))
        pub.attach_evidence(f"inc_{i:04d}", evidence("snapshot", i))
    until(lambda: pub.redis_errors > 0 and consumer.redis_errors > 0)
    assert pub.backlog() == 20
    time.sleep(0.5)

    redis_server.start()  # same port, same folder
    until(lambda: pub.backlog() == 0, timeout_s=10)

    def complete() -> bool:
        stored = [repo.get(f"inc_{i:04d}") for i in range(11)]
        return all(out is not None for out in stored) and all("snapshot" in out.evidence for out in stored[1:])

    until(complete, timeout_s=10)
    assert consumer.dead_lettered == 0
    until(lambda: client.xlen(cluster.key(cluster.events_stream)) == 0, timeout_s=5)  # trimmed once acked


def test_entries_in_redis_survive_a_restart_and_are_delivered(
        redis_server, repo, cluster, client, make_publisher, make_consumer) -> None:
    consumer = make_consumer()
    consumer.run_once(block_ms=1)  # the group exists before the events
    pub = make_publisher()
    n = 20
    for i in range(n):
        pub.add(incident(i))
    assert pub.wait_drained(10)
    stream = cluster.key(cluster.events_stream)
    client.xreadgroup(cluster.consumer_group, "api-dead", {stream: ">"}, count=5)  # 5 pending, 15 undelivered

    redis_server.restart()  # SIGTERM: AOF flushed; the consumer's pooled connection is now broken
    until(lambda: consumer.applied >= n, step=lambda: consumer.run_once(block_ms=50))
    assert repo.count() == n and consumer.redelivered == 5
    assert pending_count(client, cluster) == 0


def test_a_poison_entry_is_dead_lettered_and_later_events_still_stored(
        repo, cluster, client, make_publisher, make_consumer) -> None:
    stream, dead = cluster.key(cluster.events_stream), cluster.key(cluster.events_stream, "dead")
    consumer = make_consumer()
    consumer.run_once(block_ms=1)
    raw = redis.Redis.from_url(cluster.redis_url)  # bytes: to write a value that is not UTF-8
    try:
        raw.xadd(stream, {b"garbage": b"\xff\xfe"})
    finally:
        raw.close()
    client.xadd(stream, {"hello": "world"})
    bad_payload = BusEvent("incident_opened", "inc_bad", {"id": "inc_bad", "type": "x"}, worker="w1")
    client.xadd(stream, bad_payload.encode())
    pub = make_publisher()
    for i in range(5):
        pub.add(incident(i))
    assert pub.wait_drained(10)

    until(lambda: consumer.applied >= 5, step=lambda: consumer.run_once(block_ms=50))
    assert repo.count() == 5 and repo.get("inc_bad") is None
    assert consumer.dead_lettered == 3 and pending_count(client, cluster) == 0
    letters = client.xrange(dead)
    assert len(letters) == 3
    errors = [fields["dead_error"] for _, fields in letters]
    assert errors[0].startswith("malformed") and "missing field" in errors[1] and errors[2].startswith("invalid")
    assert letters[1][1]["hello"] == "world" and letters[1][1]["dead_consumer"] == "api1"


def test_evidence_before_its_incident_is_stored_once_the_incident_exists(
        repo, cluster, client, make_consumer) -> None:
    seen = Recorded(repo)
    stream = cluster.key(cluster.events_stream)
    consumer = make_consumer()
    consumer.run_once(block_ms=1)
    client.xadd(stream, BusEvent.evidence("inc_0007", evidence("clip", 7), "w1").encode())
    client.xadd(stream, BusEvent.ended("inc_0007", 99.0, "w1").encode())
    consumer.run_once(block_ms=50)
    assert repo.get("inc_0007") is None and pending_count(client, cluster) == 2  # left pending, not lost

    client.xadd(stream, BusEvent.opened(incident(7), "w1").encode())
    until(lambda: consumer.applied >= 3, step=lambda: consumer.run_once(block_ms=50))
    out = repo.get("inc_0007")
    assert out is not None and set(out.evidence) == {"clip"} and out.ended_at == 99.0
    assert consumer.redelivered >= 2 and consumer.dead_lettered == 0
    assert pending_count(client, cluster) == 0 and seen.evidence["inc_0007"] == 1


def test_a_retry_that_fails_otherwise_is_logged_and_left_pending(
        repo, cluster, client, make_consumer, caplog) -> None:
    """Evidence read before its incident is retried after the batch; when that retry fails for another
    reason (here the first write of evidence fails once), it is said in the log and stays pending (it used
    to be swallowed by a bare ``except Exception: pass``), and is stored on its next delivery."""
    failures = ["disk I/O error"]
    attach = repo.attach_evidence

    def attach_once_failing(incident_id: str, item: EvidenceItemIn):
        if failures and repo.get(incident_id) is not None:  # on the retry, once the incident is stored
            raise RuntimeError(failures.pop())
        return attach(incident_id, item)

    repo.attach_evidence = attach_once_failing  # the real repository, with one write failing
    stream = cluster.key(cluster.events_stream)
    consumer = make_consumer()
    consumer.run_once(block_ms=1)
    client.xadd(stream, BusEvent.evidence("inc_0008", evidence("clip", 8), "w1").encode())
    client.xadd(stream, BusEvent.opened(incident(8), "w1").encode())
    with caplog.at_level("WARNING", logger="streetsight.cluster.bus"):
        consumer.run_once(block_ms=50)
    assert "disk I/O error" in caplog.text and "failed on delivery 1" in caplog.text
    assert repo.get("inc_0008") is not None and repo.get("inc_0008").evidence == {}
    assert pending_count(client, cluster) == 1  # the evidence, not lost

    until(lambda: consumer.applied >= 2, step=lambda: consumer.run_once(block_ms=50))
    assert set(repo.get("inc_0008").evidence) == {"clip"} and pending_count(client, cluster) == 0


def test_evidence_whose_incident_never_comes_is_dead_lettered_after_max_deliveries(
        repo, cluster, client, make_consumer) -> None:
    cfg = cluster.model_copy(update={"claim_idle_s": 0.05, "max_deliveries": 3})
    consumer = make_consumer(cfg=cfg)
    consumer.run_once(block_ms=1)
    client.xadd(cluster.key(cluster.events_stream), BusEvent.evidence("inc_gone", evidence("clip", 1), "w1").encode())
    until(lambda: consumer.dead_lettered == 1, step=lambda: consumer.run_once(block_ms=20))
    assert consumer.applied == 0 and pending_count(client, cluster) == 0
    (_, fields), = client.xrange(cluster.key(cluster.events_stream, "dead"))
    assert "not stored after 3 deliveries" in fields["dead_error"] and fields["dead_deliveries"] == "3"


def test_trimming_never_removes_a_pending_entry(repo, cluster, client, make_publisher, make_consumer) -> None:
    stream = cluster.key(cluster.events_stream)
    cfg = cluster.model_copy(update={"claim_idle_s": 600})  # nobody reclaims during this test
    live = make_consumer("api-live", cfg=cfg, batch=3, trim_every_s=3600)
    live.run_once(block_ms=1)
    pub = make_publisher()
    for i in range(10):
        pub.add(incident(i))
    assert pub.wait_drained(10)
    ids = [i for i, _ in client.xrange(stream)]

    live.run_once(block_ms=1)  # entries 0-2: stored and acknowledged
    client.xreadgroup(cluster.consumer_group, "api-dead", {stream: ">"}, count=3)  # 3-5: pending forever
    until(lambda: live.applied == 7, step=lambda: live.run_once(block_ms=1))  # 6-9
    assert live.trim() == 3
    assert [i for i, _ in client.xrange(stream)] == ids[3:]  # the pending ones and everything after them
    assert live.trim() == 0
    assert live.lag() == 3

    client.xack(stream, cluster.consumer_group, *ids[3:6])
    assert live.trim() == 7 and client.xlen(stream) == 0


def test_trimming_waits_for_every_group(repo, cluster, client, make_publisher, make_consumer) -> None:
    stream = cluster.key(cluster.events_stream)
    consumer = make_consumer(trim_every_s=3600)
    consumer.run_once(block_ms=1)
    client.xgroup_create(stream, "audit", id="0")  # another group that has read nothing yet
    pub = make_publisher()
    for i in range(5):
        pub.add(incident(i))
    assert pub.wait_drained(10)
    until(lambda: consumer.applied == 5, step=lambda: consumer.run_once(block_ms=20))
    assert consumer.trim() == 0 and client.xlen(stream) == 5

    got = client.xreadgroup("audit", "a1", {stream: ">"}, count=100)
    client.xack(stream, "audit", *[i for i, _ in got[0][1]])
    assert consumer.trim() == 5 and client.xlen(stream) == 0


def test_the_outbox_keeps_events_across_a_publisher_restart(cluster, client, make_publisher, tmp_path) -> None:
    first = make_publisher("w9", start=False)  # e.g. the worker dies before its drainer ran
    for i in range(5):
        first.add(incident(i))
    first.close()
    assert first.backlog() == 5
    second = make_publisher("w9")  # same outbox file
    assert second.wait_drained(10) and second.published == 5
    events = [BusEvent.decode(f) for _, f in client.xrange(cluster.key(cluster.events_stream))]
    assert [e.incident_id for e in events] == [f"inc_{i:04d}" for i in range(5)]
    assert {e.worker for e in events} == {"w9"} and {e.kind for e in events} == {"incident_opened"}


def test_apply_event_is_idempotent_and_rejects_bad_events(repo) -> None:
    opened = BusEvent.opened(incident(1), "w1")
    assert BusEvent.decode(opened.encode()) == opened
    with pytest.raises(IncidentNotYetKnown):
        apply_event(repo, BusEvent.ended("inc_0001", 5.0, "w1"))
    for _ in range(2):
        apply_event(repo, opened)
        apply_event(repo, BusEvent.ended("inc_0001", 5.0, "w1"))
    assert repo.count() == 1 and repo.get("inc_0001").ended_at == 5.0
    with pytest.raises(BadEvent):
        BusEvent.decode({**opened.encode(), "kind": "incident_exploded"})
    with pytest.raises(BadEvent):
        BusEvent.decode({**opened.encode(), "payload": "[1, 2"})
    with pytest.raises(BadEvent):
        apply_event(repo, BusEvent("incident_ended", "inc_0001", {"ended_at": "soon"}))


def test_a_workers_embedding_reaches_the_records(repo, make_publisher, make_consumer) -> None:
    import numpy as np

    from api.embeddings import encode_vector
    from api.schemas import EmbeddingIn

    vector = np.random.default_rng(0).normal(size=1280).astype(np.float32)
    vector /= np.linalg.norm(vector)
    consumer = make_consumer()
    consumer.run_once(block_ms=1)  # creates the group
    pub = make_publisher()
    pub.add(incident(1))
    pub.attach_embedding("inc_0001", EmbeddingIn(model="m@1", dim=1280, crop=encode_vector(vector)))
    assert pub.wait_drained(10)
    until(lambda: repo.embedding("inc_0001") is not None, step=lambda: consumer.run_once(block_ms=20))
    stored = repo.embedding("inc_0001")
    assert stored.model == "m@1" and float(stored.crop @ vector) > 0.999 and stored.ring is None
