"""The dispatch lifecycle end to end against the reference receiver (a real process that calls our API back
over HTTP): file, dispatch, accept, remind, overdue, return, reassign, handle, check, close; every message
exactly once by key across restarts of our API process and of the receiver. Time limits run on an
injectable clock, so nothing waits for them. Also: time limits and the working calendar, and department
performance from known timings."""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from api.case_schemas import CallbackIn
from api.db import DispatchCallbackRecord, IncidentRecord, OutboxRecord
from api.dispatch_outbox import Outbox
from api.settings import ApiSettings, DispatchSettings
from api.time_limits import WorkingCalendar, due_at, limit_hours
from tests.api_env import PASSWORD, ApiEnv, incident
from tests.api_process import ApiProcess, FileClock
from tests.dispatch_receiver import ReceiverProcess
from tests.pg_server import free_port
from tests.test_dispatch import SECRET, metric, wait_until

DEPT, OTHER = "城管执法局", "环卫所"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


class Clock:
    """Now, plus an offset the test moves forward (the API reads time only from here)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0) if start is None else start - datetime.now(timezone.utc)
        self._frozen: datetime | None = None

    def __call__(self) -> datetime:
        return self._frozen or datetime.now(timezone.utc) + self._offset

    def freeze(self, at: datetime) -> None:
        self._frozen = at

    def advance_to(self, at: datetime) -> None:
        self._offset = max(self._offset, at - datetime.now(timezone.utc))


def lifecycle_settings(url: str) -> dict:
    return {"dispatch": {
        "url": url, "concurrency": 2, "backoff_base_s": 0.05, "backoff_max_s": 0.5, "poll_s": 0.2, "lease_s": 30,
        "timeout_s": 5, "callback_secret": SECRET, "recheck_after_s": 600, "recheck_stale_s": 120,
        "recheck_poll_s": 0.2, "accept_within_s": 600, "reminder_fraction": 0.8,
        "rules": [{"department": DEPT, "event_types": ["illegal_parking"]}],
        "default_time_limit_h": 24,
        "time_limits": [{"department": DEPT, "hours": 4},
                        {"department": DEPT, "area": "west", "event_type": "illegal_parking", "hours": 1},
                        {"area": "west", "hours": 2}],
    }}


def test_the_whole_lifecycle_against_the_reference_receiver(tmp_path: Path, database_url: str) -> None:
    """Our API runs as a real process (dispatch workers, jobs, the callback endpoint) and is killed and
    restarted; the receiver too. The test's own app over the same database stands for the reviewers'
    browser (and reads the records); both read time from the same file clock."""
    clock = FileClock(tmp_path / "clock")
    api_port = free_port()
    callback_url = f"http://127.0.0.1:{api_port}/api/v1/dispatch/callbacks"
    receiver_db = tmp_path / "dispatch.db"
    receiver_port = free_port()
    while receiver_port == api_port:  # neither is bound yet: the same free port could come twice
        receiver_port = free_port()
    late = ReceiverProcess(receiver_db, port=receiver_port, extra_args=[
        "--callback-url", callback_url, "--accept-late", "--handle-late", "--return-rate", "1"])
    settings = lifecycle_settings(late.url)
    env = ApiEnv(tmp_path, database_url, settings, clock=clock)
    api = ApiProcess(database_url, api_port, settings, tmp_path / "clock", env.root).start()
    receiver: ReceiverProcess | None = None
    try:
        env.auth.add_user("city-dispatch", PASSWORD, "dispatch-callback")
        token = env.auth.issue_token("city-dispatch", kind="api", ttl_s=3600)
        late.env = {"STREETSIGHT_DISPATCH_CALLBACK_SECRET": SECRET, "STREETSIGHT_CALLBACK_TOKEN": token}
        receiver = late.start()

        # file (立案) and dispatch (派遣)
        env.repo.add(incident(1))
        reviewer = env.client("reviewer")
        assert reviewer.post("/api/v1/incidents/inc_0000000000000001/review",
                             json={"decision": "confirm"}).status_code == 200
        cases = env.cases
        number = cases.get_for_incident("inc_0000000000000001").number
        wait_until(lambda: cases.get_by_number(number).status == "dispatched", 120, "dispatched")
        case = cases.get_by_number(number)
        assert case.time_limit_h == 1  # the most specific entry: department + area + type
        dispatched_at = case.timeline[-1].at
        assert case.deadline_at == dispatched_at + timedelta(hours=1)

        # not accepted within accept_within_s: reminded; the late receiver accepts when reminded (签收)
        clock.advance_to(dispatched_at + timedelta(seconds=601))
        wait_until(lambda: cases.get_by_number(number).status == "accepted", 120, "accepted after a reminder")

        # past 80 % of the hour, and our API process dies at once; the restarted one computes the
        # reminders from the records: the one due is sent, none is repeated
        clock.advance_to(dispatched_at + timedelta(minutes=49))
        api.kill()
        api.start()
        wait_until(lambda: f"{number}.r1.reminder" in {r[0] for r in receiver.rows()}, 120, "the 80 % reminder")

        # overdue (超期): the alarm, the metric, the cases view; the late receiver returns it (回退)
        clock.advance_to(dispatched_at + timedelta(minutes=61))
        admin = env.client("admin")
        wait_until(lambda: cases.get_by_number(number).status == "manual", 120, "returned to the manual queue")
        returned = cases.get_by_number(number)
        assert returned.queue_reason == f"returned by {DEPT}: not our department"
        assert [c["number"] for c in admin.get("/api/v1/cases", params={"queue": "manual"}).json()] == [number]
        assert f"{number}.r1.overdue" in {r[0] for r in receiver.rows()}

        # the receiver is killed and comes back as a prompt department; a reviewer reassigns the case
        receiver.kill()
        receiver = ReceiverProcess(receiver_db, port=late.port, extra_args=["--callback-url", callback_url],
                                   env=late.env).start()
        r = reviewer.post(f"/api/v1/cases/{number}/assign", json={"department": OTHER})
        assert r.status_code == 200, r.text
        wait_until(lambda: cases.get_by_number(number).status == "handled", 120, "handled after reassignment")
        handled = cases.get_by_number(number)
        assert handled.department == OTHER and handled.time_limit_h == 2  # area west, any department

        # check (核查): the violation ended before the re-check deadline -> verified -> dispatch closes it
        env.repo.mark_ended("inc_0000000000000001", 5000.0)
        api.kill()  # once more, between the handling and the re-check
        api.start()
        clock.advance_to(clock() + timedelta(seconds=601))
        wait_until(lambda: cases.get_by_number(number).status == "closed", 120, "closed after verification")

        # every message arrived exactly once, under keys that name what they are
        expected = [number, f"{number}.r1.not-accepted", f"{number}.r1.reminder", f"{number}.r1.overdue",
                    f"{number}.reassign-1", f"{number}.verified-2"]
        rows = receiver.rows()
        assert sorted(r[0] for r in rows) == sorted(expected)
        assert {r[0]: r[1] for r in rows} == dict(zip(expected, ["case.created", "case.reminder", "case.reminder",
                                                                 "case.overdue", "case.reassigned", "case.verified"]))
        # (a message sent again after a kill -9 would count a second delivery under the same key: still once)
        with env.sessions() as s:
            assert sorted(s.scalars(select(OutboxRecord.key))) == sorted(expected)
            applied = sorted(s.scalars(select(DispatchCallbackRecord.event_id)))
        assert applied == sorted([f"{number}.r1.not-accepted:accepted", f"{number}.r1.overdue:returned",
                                  f"{number}.reassign-1:accepted", f"{number}.reassign-1:handled",
                                  f"{number}.verified-2:closed"])
        assert [answer for _, answer in receiver.callbacks()] == [200] * 5
        with sqlite3.connect(receiver_db) as db:
            verified = json.loads(db.execute("SELECT body FROM received WHERE key = ?",
                                             (f"{number}.verified-2",)).fetchone()[0])
        assert verified["recheck"]["verdict"] == "verified" and verified["department"] == OTHER
        overdue = {r[0]: r for r in rows}[f"{number}.r1.overdue"]
        assert overdue[1] == "case.overdue"

        # the timeline: every stage with its time, in order
        timeline = admin.get(f"/api/v1/cases/{number}").json()["timeline"]
        assert [(t["stage"], t["round"], t["department"]) for t in timeline] == [
            ("filed", 0, DEPT), ("dispatched", 1, DEPT), ("accepted", 1, DEPT), ("returned", 1, DEPT),
            ("dispatched", 2, OTHER), ("accepted", 2, OTHER), ("handled", 2, OTHER), ("checked", 2, OTHER),
            ("closed", 2, OTHER)]
        times = [datetime.fromisoformat(t["at"]) for t in timeline]
        assert times == sorted(times)
        assert timeline[3]["detail"]["reason"] == "not our department" and timeline[3]["detail"]["rule_index"] == 0
        stats = admin.get("/api/v1/stats/departments", params={
            "since": (dispatched_at - timedelta(hours=1)).isoformat(), "until": clock().isoformat()}).json()
        assert stats["rules"] == [{"rule": 0, "department": DEPT, "routed": 1, "misses": 1}]
    finally:
        if receiver is not None:
            receiver.stop()
        api.stop()
        env.close()


def test_overdue_cases_stand_out_and_reminders_are_enqueued_once(tmp_path: Path, database_url: str) -> None:
    clock = Clock(T0)
    clock.freeze(T0)
    env = ApiEnv(tmp_path, database_url, lifecycle_settings("http://127.0.0.1:9/cases"), clock=clock)
    try:
        env.repo.add(incident(1))
        env.client().post("/api/v1/incidents/inc_0000000000000001/review", json={"decision": "confirm"})
        outbox = Outbox(env.sessions)
        [message] = outbox.claim(10, 30)
        outbox.mark_delivered(message, also=env.cases.delivered(message))  # what a delivery records
        number = message.key
        admin = env.client("admin")
        assert env.cases.remind_due() == []
        clock.freeze(T0 + timedelta(hours=2))
        keys = env.cases.remind_due()
        assert keys == [f"{number}.r1.not-accepted", f"{number}.r1.overdue"]  # 80 % passed too, but overdue says it
        assert env.cases.remind_due() == []  # computed again: nothing new
        # a second API process with its own service computes the same and adds nothing
        from api.cases import CaseService

        assert CaseService(env.sessions, env.settings, clock=clock).remind_due() == []
        assert metric(admin, "streetsight_cases_overdue", department=DEPT) == 1
        listed = admin.get("/api/v1/cases", params={"overdue": "true"}).json()
        assert [c["number"] for c in listed] == [number] and listed[0]["overdue"] is True
    finally:
        env.close()


def test_time_limit_most_specific_wins_and_the_calendar_counts_working_time() -> None:
    settings = ApiSettings.model_validate(lifecycle_settings("")).dispatch
    assert limit_hours(settings, DEPT, "west", "illegal_parking") == 1
    assert limit_hours(settings, DEPT, "east", "illegal_parking") == 4
    assert limit_hours(settings, OTHER, "west", "street_vending") == 2
    assert limit_hours(settings, OTHER, "east", "street_vending") == 24
    calendar = DispatchSettings.model_validate({"calendar": {
        "timezone": "Asia/Shanghai", "hours": [{"start": "08:30", "end": "12:00"}, {"start": "13:30", "end": "17:30"}],
        "holidays": ["2026-03-04"], "extra_workdays": ["2026-03-08"]}})
    cn = WorkingCalendar(calendar.calendar).zone
    start = datetime(2026, 3, 3, 11, 0, tzinfo=cn)  # a Tuesday, 1 h before lunch
    assert due_at(calendar, start, 2 * 3600) == datetime(2026, 3, 3, 14, 30, tzinfo=cn)  # lunch does not count
    # 7.5 h per day; Wed the 4th is a holiday: 11:00 Tue + 8 h = 1 h + 4 h Tue, then Thu 3 h -> 11:30 Thu
    assert due_at(calendar, start, 8 * 3600) == datetime(2026, 3, 5, 11, 30, tzinfo=cn)
    friday = datetime(2026, 3, 6, 17, 0, tzinfo=cn)  # half an hour left; Sunday the 8th is a working day
    assert due_at(calendar, friday, 3600) == datetime(2026, 3, 8, 9, 0, tzinfo=cn)
    assert due_at(DispatchSettings(), start, 3600) == start + timedelta(hours=1)  # no calendar: plain time
    for bad, field in (({"hours": [{"start": "18:00", "end": "09:00"}]}, "end"),
                       ({"hours": [{"start": "08:00", "end": "12:00"}], "holidays": ["03/04"]}, "holidays"),
                       ({"hours": [{"start": "08:00", "end": "12:00"}], "weekdays": [0]}, "weekdays")):
        with pytest.raises(ValidationError) as err:
            DispatchSettings.model_validate({"calendar": bad})
        assert field in str(err.value)
    with pytest.raises(ValidationError, match="reason"):
        CallbackIn.model_validate({"event_id": "x", "case_number": "SS-1", "status": "returned"})


def _deliver_all(env: ApiEnv) -> list[str]:
    """Record the delivery of every waiting message, in the outbox's order (what a 2xx answer records)."""
    outbox = Outbox(env.sessions)
    keys: list[str] = []
    while claimed := outbox.claim(100, 30):  # a case's later message is claimable once the earlier is delivered
        for message in claimed:
            outbox.mark_delivered(message, also=env.cases.delivered(message))
            keys.append(message.key)
    return keys


def spot_at(incident_id: str, source: str, at: datetime) -> dict:
    """Stands in for the pipeline's snapshot of the spot at the re-check deadline (stored evidence)."""
    return {"kind": "recheck_snapshot", "key": f"{incident_id}/recheck-{at:%H%M%S}.jpg", "sha256": "ab" * 32,
            "size": 1234, "content_type": "image/jpeg"}


def test_department_performance_from_known_timings(tmp_path: Path, database_url: str) -> None:
    clock = Clock(T0)
    clock.freeze(T0)
    env = ApiEnv(tmp_path, database_url, lifecycle_settings("http://127.0.0.1:9/cases"), clock=clock,
                 recheck_snapshot=spot_at)
    try:
        reviewer = env.client()
        numbers = []
        for n in range(1, 5):
            env.repo.add(incident(n))
            reviewer.post(f"/api/v1/incidents/inc_{n:016x}/review", json={"decision": "confirm"})
            numbers.append(env.cases.get_for_incident(f"inc_{n:016x}").number)
        assert len(_deliver_all(env)) == 4  # all four dispatched to DEPT at T0, limit 1 h
        c1, c2, c3, c4 = numbers

        def callback(number: str, status: str, minutes: int, **extra) -> None:
            clock.freeze(T0 + timedelta(minutes=minutes))
            env.cases.apply_callback(CallbackIn(event_id=f"{number}-{status}-{minutes}", case_number=number,
                                                status=status, **extra), "city-dispatch")

        callback(c1, "accepted", 5)
        callback(c3, "returned", 10, reason="wrong location")
        clock.freeze(T0 + timedelta(minutes=20))
        env.cases.assign(env.cases.get_by_number(c3).id, OTHER, "wang")
        assert _deliver_all(env) == [f"{c3}.reassign-1"]
        callback(c1, "handled", 30)  # on time: 1800 s
        callback(c3, "handled", 50)  # OTHER, on time (2 h in area west): 1800 s
        callback(c2, "handled", 90)  # late: 5400 s
        # c4 never handled: at 2 h it is late too
        with env.sessions() as s:  # c1's violation is still there after the re-check deadline
            s.get(IncidentRecord, "inc_0000000000000001").ended_wall = T0 + timedelta(minutes=45)
            s.commit()
        assert [o.verdict for o in env.cases.recheck_due(now=T0 + timedelta(minutes=41))] == ["reopened"]
        with env.sessions() as s:  # the re-check's result goes to dispatch with the picture of the spot
            reopen = s.scalars(select(OutboxRecord).where(OutboxRecord.key == f"{c1}.reopen-1")).one().payload
        deadline = T0 + timedelta(minutes=40)
        assert reopen["message"] == "case.reopened" and reopen["recheck"]["verdict"] == "reopened"
        assert datetime.fromisoformat(reopen["recheck"]["deadline"]) == deadline
        assert [(e["kind"], e["sha256"]) for e in reopen["recheck"]["evidence"]] == [("recheck_snapshot", "ab" * 32)]
        clock.freeze(T0 + timedelta(hours=2))

        admin = env.client("admin")
        period = {"since": T0.isoformat(), "until": (T0 + timedelta(days=1)).isoformat()}
        report = admin.get("/api/v1/stats/departments", params=period).json()
        assert report["departments"] == [
            {"department": DEPT, "area": None, "received": 4, "handled": 2, "on_time": 1, "late": 2,
             "on_time_rate": 0.3333, "median_handle_s": 3600.0, "returns": 1, "reopened": 1, "reopen_rate": 0.5},
            {"department": OTHER, "area": None, "received": 1, "handled": 1, "on_time": 1, "late": 0,
             "on_time_rate": 1.0, "median_handle_s": 1800.0, "returns": 0, "reopened": 0, "reopen_rate": 0.0},
        ]
        assert report["rules"] == [{"rule": 0, "department": DEPT, "routed": 4, "misses": 1}]
        by_area = admin.get("/api/v1/stats/departments", params={**period, "group_by": "area"}).json()
        assert [(d["department"], d["area"], d["received"]) for d in by_area["departments"]] == [
            (DEPT, "west", 4), (OTHER, "west", 1)]
        csv = admin.get("/api/v1/stats/departments", params={**period, "format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text == (
            "department,area,received,handled,on_time,late,on_time_rate,median_handle_s,returns,reopened,reopen_rate\n"
            f"{DEPT},,4,2,1,2,0.3333,3600.0,1,1,0.5\n"
            f"{OTHER},,1,1,1,0,1.0,1800.0,0,0,0.0\n")
        assert admin.get("/api/v1/stats/departments", params={"since": period["until"], "until": period["since"]}
                         ).status_code == 422
        assert admin.get("/api/v1/stats/departments", params={"since": "yesterday", "until": period["until"]}
                         ).status_code == 422

        # a reopened case whose department returned it twice is not sent back to it automatically
        clock.freeze(T0 + timedelta(hours=3))
        callback(c4, "returned", 181, reason="not ours")
        env.cases.assign(env.cases.get_by_number(c4).id, DEPT, "wang")
        _deliver_all(env)
        callback(c4, "returned", 182, reason="still not ours")
        env.cases.assign(env.cases.get_by_number(c4).id, DEPT, "wang")  # a person may still decide so
        _deliver_all(env)
        callback(c4, "handled", 183)
        with env.sessions() as s:
            s.get(IncidentRecord, "inc_0000000000000004").ended_wall = T0 + timedelta(hours=5)
            s.commit()
        env.cases.recheck_due(now=T0 + timedelta(hours=4))
        reopened = env.cases.get_by_number(c4)
        assert reopened.status == "manual" and reopened.department is None
        assert reopened.queue_reason == f"reopened; {DEPT} returned it twice before"
        assert [t.stage for t in reopened.timeline][-2:] == ["checked", "reopened"]
        # closed as invalid, with the reason
        r = reviewer.post(f"/api/v1/cases/{c4}/invalidate", json={"reason": "duplicate of another case"})
        assert r.status_code == 200 and r.json()["status"] == "closed"
        assert r.json()["closed_reason"] == "duplicate of another case"
        assert reviewer.post(f"/api/v1/cases/{c4}/invalidate", json={"reason": "again"}).status_code == 409
        assert reviewer.post(f"/api/v1/cases/{c4}/invalidate", json={}).status_code == 422
    finally:
        env.close()


def test_reference_receiver_returns_a_share_of_cases(tmp_path: Path) -> None:
    from api.dispatch_reference import Behaviour, Receiver

    receiver = Receiver(tmp_path / "r.db", behaviour=Behaviour(return_rate=0.5))
    for n in range(1, 7):
        assert receiver.receive(f"SS-{n}", {"message": "case.created", "case_number": f"SS-{n}"}) == (200, "stored")
    assert receiver.receive("SS-1", {"message": "case.created", "case_number": "SS-1"}) == (200, "stored")  # again
    events = [e for (e,) in receiver.db.execute("SELECT event_id FROM outgoing ORDER BY seq")]
    finished = [e.split(":")[1] for e in events if not e.endswith(":accepted")]
    assert finished == ["handled", "returned"] * 3  # half of them, deterministic; a repeat adds nothing
    assert len(events) == 12


def test_an_old_alarm_delivered_after_a_reassignment_does_not_start_the_new_round(
    tmp_path: Path, database_url: str
) -> None:
    """The department returns the case before our overdue alarm got through; a reviewer reassigns it. The
    alarm (of round 1) is delivered first (a case's messages keep their order); only the reassignment's
    delivery starts round 2, with the new department's limit."""
    clock = Clock(T0)
    clock.freeze(T0)
    env = ApiEnv(tmp_path, database_url, lifecycle_settings("http://127.0.0.1:9/cases"), clock=clock)
    try:
        env.repo.add(incident(1))
        env.client().post("/api/v1/incidents/inc_0000000000000001/review", json={"decision": "confirm"})
        [number] = _deliver_all(env)
        clock.freeze(T0 + timedelta(hours=2))
        assert env.cases.remind_due() == [f"{number}.r1.not-accepted", f"{number}.r1.overdue"]  # not sent yet
        env.cases.apply_callback(CallbackIn(event_id="ret", case_number=number, status="returned",
                                            reason="wrong location"), "city-dispatch")
        clock.freeze(T0 + timedelta(hours=3))
        env.cases.assign(env.cases.get_by_number(number).id, OTHER, "wang")
        clock.freeze(T0 + timedelta(hours=4))
        assert _deliver_all(env) == [f"{number}.r1.not-accepted", f"{number}.r1.overdue", f"{number}.reassign-1"]
        case = env.cases.get_by_number(number)
        dispatched = [t for t in case.timeline if t.stage == "dispatched"]
        assert [(t.round, t.department, t.detail["message"]) for t in dispatched] == [
            (1, DEPT, number), (2, OTHER, f"{number}.reassign-1")]
        assert case.status == "dispatched" and case.deadline_at == T0 + timedelta(hours=6)  # 2 h from delivery
    finally:
        env.close()


def test_cases_already_reminded_do_not_crowd_out_the_ones_due(tmp_path: Path, database_url: str) -> None:
    """A poll reads a limited number of cases: the ones whose reminders are all sent are not among them."""
    clock = Clock(T0)
    clock.freeze(T0)
    env = ApiEnv(tmp_path, database_url, lifecycle_settings("http://127.0.0.1:9/cases"), clock=clock)
    try:
        for n in (1, 2, 3):
            env.repo.add(incident(n))
            env.repo.review(f"inc_{n:016x}", "confirm", reviewer="wang")
            env.cases.create_for_incident(f"inc_{n:016x}")
        _deliver_all(env)
        clock.freeze(T0 + timedelta(minutes=11))
        assert len(env.cases.remind_due(limit=1)) == 1  # one case per poll here
        assert len(env.cases.remind_due(limit=1)) == 1
        assert len(env.cases.remind_due(limit=1)) == 1
        assert env.cases.remind_due(limit=1) == []
    finally:
        env.close()
