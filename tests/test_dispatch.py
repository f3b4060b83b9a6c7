"""The dispatch client against the reference receiver (a real process): 1000 cases through 30% failures and
restarts of both sides arrive exactly once; signed callbacks move cases; the re-check (核查) verifies or
re-opens them. On SQLite and PostgreSQL."""
from __future__ import annotations

import json
import random
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from api import IncidentRepository, create_engine_for, make_session_factory
from api.callbacks import signed_headers
from api.cases import CaseService
from api.db import CaseRecord, OutboxRecord
from api.dispatch_client import DispatchClient
from api.dispatch_outbox import Outbox
from common.backoff import backoff_s
from api.settings import ApiSettings
from tests.api_env import ApiEnv, incident
from tests.dispatch_receiver import ReceiverProcess

ARTIFACTS = Path(__file__).resolve().parents[1] / "var" / "test-artifacts"
SECRET = "callback-secret-for-tests"


def settings_for(url: str, **dispatch) -> dict:
    return {"dispatch": {"url": url, "concurrency": 4, "backoff_base_s": 0.05, "backoff_max_s": 0.5,
                         "poll_s": 0.2, "lease_s": 30, "timeout_s": 5, "callback_secret": SECRET,
                         "rules": [{"department": "城管执法局"}], **dispatch}}


def metric(client, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise KeyError(name)


def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s  # a bound for a slow CI machine, not a speed goal
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(1)
    for attempts, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (40, 30.0)):
        delays = [backoff_s(attempts, 1.0, 30.0, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        assert len(set(delays)) > 150  # jittered, not all at once


def test_thousand_cases_arrive_exactly_once_through_failures_and_restarts(
    tmp_path: Path, database_url: str
) -> None:
    n_cases = 1000
    receiver = ReceiverProcess(tmp_path / "dispatch.db", fail_rate=0.3).start()
    env = ApiEnv(tmp_path, database_url, settings_for(receiver.url))
    clients: list[DispatchClient] = []
    try:
        bare = IncidentRepository(env.sessions)  # confirm without the app's listeners: cases made in bulk
        for n in range(n_cases):
            bare.add(incident(n))
            bare.review(f"inc_{n:016x}", "confirm", reviewer="wang")
            env.cases.create_for_incident(f"inc_{n:016x}")
        numbers = {c.number for c in env.cases.list(limit=500)[0]} | {c.number for c in env.cases.list(
            limit=500, offset=500)[0]}
        assert len(numbers) == n_cases

        started, cpu_started = time.monotonic(), time.process_time()
        first = env.app.state.dispatch  # the app's own client, with its metrics
        first.start()
        clients.append(first)
        wait_until(lambda: receiver.stored() >= 300, 120, "300 stored")
        receiver.kill()  # the receiver dies mid-run ...
        time.sleep(1.0)  # ... requests now fail to connect ...
        receiver.start()  # ... and it comes back on the same port with its database
        wait_until(lambda: receiver.stored() >= 600, 120, "600 stored")

        # our side restarts too: a new process would find the outbox in the database and go on
        first.stop()
        engine2 = create_engine_for(database_url)
        sessions2 = make_session_factory(engine2)
        settings = ApiSettings.model_validate(settings_for(receiver.url))
        cases2 = CaseService(sessions2, settings)
        second = DispatchClient(Outbox(sessions2), cases2, settings.dispatch)
        second.start()
        clients.append(second)
        wait_until(lambda: env.app.state.outbox.depth() == 0, 300, "an empty outbox")
        elapsed, cpu_s = time.monotonic() - started, time.process_time() - cpu_started
        second.stop()
        engine2.dispose()

        rows = receiver.rows()
        assert len(rows) == n_cases  # every case arrived, each stored once under its key
        assert {key for key, *_ in rows} == numbers
        assert all(message == "case.created" and key == number for key, message, number, _ in rows)
        stats = receiver.stats()
        redelivered = sum(deliveries - 1 for *_, deliveries in rows)
        assert stats["failed_before_store"] > 100 and stats["failed_after_store"] > 100
        # every lost answer made us send a message that had arrived: same key, deduped, no second case
        assert redelivered >= stats["failed_after_store"]
        with env.sessions() as s:
            assert set(s.scalars(select(CaseRecord.status))) == {"dispatched"}
            outbox = list(s.scalars(select(OutboxRecord)))
        assert len(outbox) == n_cases and all(m.delivered_at is not None for m in outbox)
        retried = sum(1 for m in outbox if m.attempts > 1)
        assert retried > 200

        admin = env.client("admin")
        assert metric(admin, "streetsight_outbox_depth") == 0
        assert metric(admin, "streetsight_dispatch_deliveries_total", outcome="delivered") > 0
        assert metric(admin, "streetsight_dispatch_deliveries_total", outcome="server_error") > 0
        assert metric(admin, "streetsight_cases", status="dispatched") == n_cases

        latencies = sorted((m.delivered_at - m.created_at).total_seconds() for m in outbox)
        report = {
            "backend": database_url.split(":")[0], "cases": n_cases, "fail_rate": 0.3,
            "receiver_restarts": 1, "client_restarts": 1, "wall_s": round(elapsed, 2),
            "throughput_cases_per_s": round(n_cases / elapsed, 1),
            "sender_cpu_ms_per_case": round(1000 * cpu_s / n_cases, 2),
            "load_average_1m": round(__import__("os").getloadavg()[0], 1),
            "requests": stats["requests"], "redelivered_after_lost_answer": redelivered,
            "outbox_latency_p50_s": round(statistics.median(latencies), 3),
            "outbox_latency_p95_s": round(latencies[int(0.95 * len(latencies)) - 1], 3),
            "note": "latency counts from enqueue (all 1000 enqueued before delivery started)",
        }
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"dispatch-delivery-{report['backend']}.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report))
    finally:
        for c in clients:
            c.stop()
        receiver.stop()
        env.close()


@pytest.fixture()
def flow(tmp_path: Path, database_url: str):
    receiver = ReceiverProcess(tmp_path / "dispatch.db").start()
    env = ApiEnv(tmp_path, database_url, settings_for(receiver.url, recheck_after_s=600, recheck_stale_s=120))
    yield env, receiver
    env.app.state.dispatch.stop()
    receiver.stop()
    env.close()


def post_callback(client, body: dict, secret: str = SECRET, timestamp: int | None = None, headers=None):
    raw = json.dumps(body).encode()
    h = signed_headers(secret.encode(), raw, timestamp)
    h.update(headers or {})
    return client.post("/api/v1/dispatch/callbacks", content=raw, headers=h)


def test_callbacks_move_the_case_and_the_recheck_verifies_or_reopens(flow) -> None:
    env, receiver = flow
    dispatch = env.app.state.dispatch
    env.repo.add(incident(1))
    reviewer = env.client("reviewer")
    assert reviewer.post("/api/v1/incidents/inc_0000000000000001/review", json={"decision": "confirm"}).status_code == 200
    number = reviewer.get("/api/v1/incidents/inc_0000000000000001/case").json()["number"]
    cb = env.client("dispatch-callback", "city-dispatch")

    def body(status: str, event: str, **extra) -> dict:
        return {"event_id": event, "case_number": number, "status": status, **extra}

    # before delivery the case is queued: 'verified' makes no sense yet
    assert post_callback(cb, body("verified", "e0")).status_code == 409
    assert dispatch.drain(30)
    assert env.cases.get_by_number(number).status == "dispatched"
    assert [r[0] for r in receiver.rows()] == [number]

    # authentication and signature
    handled = body("handled", "e1", handler="张队", dispatch_ref="DSP-778", note="已劝离")
    raw = json.dumps(handled).encode()
    assert cb.post("/api/v1/dispatch/callbacks", content=raw).status_code == 401  # unsigned
    assert post_callback(cb, handled, secret="wrong").status_code == 401
    assert post_callback(cb, handled, timestamp=int(time.time()) - 3600).status_code == 401  # replay window
    assert post_callback(reviewer, handled).status_code == 403  # signed, but not the dispatch role
    anonymous = env.client("admin")
    anonymous.cookies.clear()
    assert post_callback(anonymous, handled).status_code == 401
    assert post_callback(cb, {**handled, "status": "done"}).status_code == 422
    assert post_callback(cb, {**handled, "case_number": "SS-19990101-000001"}).status_code == 404

    r = post_callback(cb, handled)
    assert r.status_code == 200, r.text
    assert r.json()["duplicate"] is False and r.json()["case"]["status"] == "handled"
    assert r.json()["case"]["dispatch_ref"] == "DSP-778"
    again = post_callback(cb, handled)  # a retried (or replayed) report: nothing changes
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert post_callback(cb, body("closed", "e2")).status_code == 409  # handled -> closed skips verification

    # re-check before the deadline: nothing to judge yet
    due = env.cases.get_by_number(number).recheck_due_at
    assert due is not None
    assert env.cases.recheck_due(now=due - timedelta(seconds=1)) == []
    # the violation is still there after the deadline (the pipeline keeps seeing it): re-opened, reported
    env.repo.mark_seen("inc_0000000000000001", 5000.0)
    [outcome] = env.cases.recheck_due(now=datetime.now(timezone.utc) + timedelta(seconds=700))
    # mark_seen was before the (future) deadline but fresh (within recheck_stale_s=120 s? no: 700 s
    # later it is stale) -> the camera has not confirmed it since: the re-check waits
    assert outcome.verdict == "waiting"
    assert env.cases.get_by_number(number).status == "handled"
    with env.sessions() as s:  # the pipeline sees it after the deadline
        from api.db import IncidentRecord

        s.get(IncidentRecord, "inc_0000000000000001").last_seen_wall = due + timedelta(seconds=5)
        s.commit()
    [outcome] = env.cases.recheck_due(now=due + timedelta(seconds=10))
    assert outcome.verdict == "reopened"
    case = env.cases.get_by_number(number)
    assert case.status == "reopened" and case.reopen_count == 1
    assert dispatch.drain(30)
    reopen = [r for r in receiver.rows() if r[1] == "case.reopened"]
    assert [r[0] for r in reopen] == [f"{number}.reopen-1"]
    assert env.cases.get_by_number(number).status == "dispatched"

    # handled again; this time the violation ends before the deadline: verified, then closed
    assert post_callback(cb, body("handled", "e3")).status_code == 200
    env.repo.mark_ended("inc_0000000000000001", 5100.0)
    [outcome] = env.cases.recheck_due(now=datetime.now(timezone.utc) + timedelta(seconds=601))
    assert outcome.verdict == "verified"
    assert env.cases.get_by_number(number).status == "verified"
    r = post_callback(cb, body("closed", "e4", note="结案"))
    assert r.status_code == 200 and r.json()["case"]["status"] == "closed"
    assert post_callback(cb, body("closed", "e5")).status_code == 409

    admin = env.client("admin")
    trail = admin.get("/api/v1/audit", params={"case_id": case.id}).json()
    assert [a["action"] for a in reversed(trail)] == [
        "case.created", "case.dispatched", "case.handled", "case.reopened", "case.dispatched", "case.handled",
        "case.verified", "case.closed"]
    assert [a["actor"] for a in reversed(trail)][2] == "city-dispatch"
    assert trail[0]["before"]["status"] == "verified" and trail[0]["after"]["status"] == "closed"
    assert metric(admin, "streetsight_case_changes_total", status="closed") == 1
    assert metric(admin, "streetsight_cases", status="closed") == 1


def test_recheck_reopens_an_incident_that_never_ended(flow) -> None:
    env, receiver = flow
    env.repo.add(incident(1))
    env.client().post("/api/v1/incidents/inc_0000000000000001/review", json={"decision": "confirm"})
    number = env.cases.get_for_incident("inc_0000000000000001").number
    assert env.app.state.dispatch.drain(30)
    cb = env.client("dispatch-callback")
    assert post_callback(cb, {"event_id": "h1", "case_number": number, "status": "handled"}).status_code == 200
    # no sighting recorded since its detection long ago (the pipeline records them every few seconds, so
    # its process is gone, e.g. killed): its end is unknown, the re-check waits instead of re-opening
    now = datetime.now(timezone.utc) + timedelta(seconds=601)
    assert [o.verdict for o in env.cases.recheck_due(now=now)] == ["waiting"]
    due = env.cases.get_by_number(number).recheck_due_at
    env.repo.mark_seen("inc_0000000000000001", 900.0, seen_wall=due + timedelta(seconds=5))  # seen after it
    [outcome] = env.cases.recheck_due(now=now)
    assert outcome.verdict == "reopened"
    # ended after the deadline also counts as still there
    assert env.app.state.dispatch.drain(30)
    assert post_callback(cb, {"event_id": "h2", "case_number": number, "status": "handled"}).status_code == 200
    with env.sessions() as s:
        from api.db import IncidentRecord

        record = s.get(IncidentRecord, "inc_0000000000000001")
        record.ended_at, record.ended_wall = 99.0, datetime.now(timezone.utc) + timedelta(seconds=900)
        s.commit()
    [outcome] = env.cases.recheck_due(now=datetime.now(timezone.utc) + timedelta(seconds=1000))
    assert outcome.verdict == "reopened"
    assert env.cases.get_by_number(number).reopen_count == 2


def test_callbacks_are_refused_without_a_secret(tmp_path: Path) -> None:
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    try:
        r = post_callback(env.client("dispatch-callback"), {"event_id": "x", "case_number": "SS-1", "status": "handled"})
        assert r.status_code == 503
    finally:
        env.close()
