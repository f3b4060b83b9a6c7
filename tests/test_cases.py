"""Cases on SQLite and PostgreSQL: review -> case (number, codes, place, evidence, department), smart
dispatch and the manual queue, assignment, the audit log, batch review, incident filters, the sweep."""
from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.db import CaseRecord, OutboxRecord
from api.schemas import EvidenceItemIn
from tests.api_env import LABELS, T0, ApiEnv, incident

RULES = {"dispatch": {"min_confidence": 0.5, "rules": [
    {"department": "交警大队 traffic police", "event_types": ["illegal_parking"], "areas": ["west"]},
    {"department": "城管中队 east", "areas": ["east"], "min_confidence": 0.8},
]}}


@pytest.fixture()
def env(tmp_path: Path, database_url: str):
    e = ApiEnv(tmp_path, database_url, RULES)
    yield e
    e.close()


def outbox_rows(env: ApiEnv) -> list[OutboxRecord]:
    with env.sessions() as s:
        return list(s.scalars(select(OutboxRecord).order_by(OutboxRecord.id)))


def test_confirmed_incident_becomes_a_routed_case(env: ApiEnv) -> None:
    inc = env.repo.add(incident(1))
    env.repo.attach_evidence(inc.id, EvidenceItemIn(kind="snapshot", key=f"{inc.id}/snapshot.jpg", sha256="a" * 64,
                                                    size=10, content_type="image/jpeg"))
    reviewer = env.client("reviewer", "wang")
    assert reviewer.get(f"/api/v1/incidents/{inc.id}/case").status_code == 404  # pending: no case yet
    r = reviewer.post(f"/api/v1/incidents/{inc.id}/review", json={"decision": "confirm", "note": "车牌清晰"})
    assert r.status_code == 200, r.text

    case = reviewer.get(f"/api/v1/incidents/{inc.id}/case").json()
    assert re.fullmatch(r"SS-\d{8}-000001", case["number"])
    assert case["status"] == "queued" and case["department"] == "交警大队 traffic police"
    assert case["event"] == {"type": "illegal_parking", "national_code": "05", "local_code": "A0501",
                             "label_zh": "机动车乱停放", "label_en": "illegal parking",
                             "category_zh": "街面秩序", "category_en": "street order"}
    assert case["location"] == {"source": "cam-01", "address": "人民路 12 号", "lng": 120.15, "lat": 30.28,
                                "grid": "G-0102", "area": "west"}
    assert case["reviewer"] == "wang" and case["confidence"] == pytest.approx(0.87)
    assert case["evidence"] == [{"kind": "snapshot", "url": f"/api/v1/incidents/{inc.id}/evidence/snapshot",
                                 "sha256": "a" * 64, "size": 10, "content_type": "image/jpeg"}]
    assert "机动车乱停放" in case["description"] and "人民路 12 号" in case["description"]
    assert "车牌清晰" in case["description"]
    assert reviewer.get(f"/api/v1/cases/{case['number']}").json()["id"] == case["id"]
    assert reviewer.get(f"/api/v1/cases/{case['id']}").json()["number"] == case["number"]
    assert env.protected == [inc.id]  # evidence protection asked for at creation

    [message] = outbox_rows(env)  # one message for dispatch, keyed by the case number
    assert message.key == case["number"] and message.kind == "case.created" and message.delivered_at is None
    assert message.payload["schema"] == "streetsight.case/v1" and message.payload["message_id"] == message.key
    assert message.payload["department"] == "交警大队 traffic police"
    assert message.payload["location"]["grid"] == "G-0102"

    # a repeated confirmation (safe retry) makes no second case or message
    assert reviewer.post(f"/api/v1/incidents/{inc.id}/review", json={"decision": "confirm"}).status_code == 200
    assert env.cases.create_for_incident(inc.id).number == case["number"]
    assert len(outbox_rows(env)) == 1


def test_rule_miss_and_low_confidence_go_to_the_manual_queue(env: ApiEnv) -> None:
    env.repo.add(incident(1, type="street_vending", labels=None))  # west, but no rule for vending there
    env.repo.add(incident(2, source="cam-02", score=0.7))  # east: its rule wants 0.8
    env.repo.add(incident(3, score=0.3))  # west parking, under the global 0.5
    env.repo.add(incident(4, source="cam-02", score=0.95))  # east, routed
    reviewer = env.client()
    for n in (1, 2, 3, 4):
        assert reviewer.post(f"/api/v1/incidents/inc_{n:016x}/review", json={"decision": "confirm"}).status_code == 200

    manual = reviewer.get("/api/v1/cases", params={"queue": "manual"})
    assert manual.headers["X-Total-Count"] == "3"
    reasons = {c["incident_id"][-1]: c["queue_reason"] for c in manual.json()}
    assert set(reasons) == {"1", "2", "3"}
    assert "no dispatch rule" in reasons["1"] and "street_vending" in reasons["1"]
    assert "below 0.80" in reasons["2"] and "below 0.50" in reasons["3"]
    # the vending incident had no labels of its own: the taxonomy gave them
    vending = next(c for c in manual.json() if c["incident_id"].endswith("1"))
    assert vending["event"]["label_zh"] == "占道经营" and vending["event"]["national_code"] == "05"
    assert [c["department"] for c in reviewer.get("/api/v1/cases", params={"status": "queued"}).json()] == [
        "城管中队 east"]
    assert len(outbox_rows(env)) == 1  # only the routed case goes out

    # assignment sends it; a second assignment is a conflict
    case_id = manual.json()[0]["id"]
    r = reviewer.post(f"/api/v1/cases/{case_id}/assign", json={"department": "市场监管所", "note": "摊贩"})
    assert r.status_code == 200 and r.json()["status"] == "queued" and r.json()["department"] == "市场监管所"
    assert r.json()["queue_reason"] is None
    assert reviewer.post(f"/api/v1/cases/{case_id}/assign", json={"department": "x"}).status_code == 409
    assert reviewer.post("/api/v1/cases/99999/assign", json={"department": "x"}).status_code == 404
    assert reviewer.post(f"/api/v1/cases/{case_id}/assign", json={"department": ""}).status_code == 422
    assert len(outbox_rows(env)) == 2
    assert reviewer.get("/api/v1/cases", params={"queue": "manual"}).headers["X-Total-Count"] == "2"
    # trainers see incidents, not cases
    trainer = env.client("trainer")
    assert trainer.get("/api/v1/cases").status_code == 403
    assert trainer.post(f"/api/v1/cases/{case_id}/assign", json={"department": "x"}).status_code == 403
    assert trainer.get("/api/v1/incidents").status_code == 200


def test_corrected_type_must_be_a_known_event_type(env: ApiEnv) -> None:
    """A typo in corrected_type made a case with no codes; now a 422 naming the field, and nothing changes."""
    env.repo.add(incident(1))
    reviewer = env.client("reviewer")
    for path, body in (("/api/v1/incidents/inc_0000000000000001/review", {}),
                       ("/api/v1/incidents/review-batch", {"ids": ["inc_0000000000000001"]})):
        r = reviewer.post(path, json={**body, "decision": "confirm", "corrected_type": "zzz_not_a_type"})
        assert r.status_code == 422, r.text
        [error] = r.json()["detail"]
        assert error["loc"] == ["body", "corrected_type"] and "zzz_not_a_type" in error["msg"]
    assert env.repo.get("inc_0000000000000001").status == "pending"
    assert env.cases.get_for_incident("inc_0000000000000001") is None
    r = reviewer.post("/api/v1/incidents/inc_0000000000000001/review",
                      json={"decision": "confirm", "corrected_type": "street_vending"})
    assert r.status_code == 200
    case = env.cases.get_for_incident("inc_0000000000000001")
    assert case.event.type == "street_vending" and case.event.label_zh == "占道经营"


def test_reject_reason_corrected_type_and_audit(env: ApiEnv) -> None:
    env.repo.add(incident(1))
    env.repo.add(incident(2))
    reviewer, admin = env.client("reviewer", "li"), env.client("admin")
    r = reviewer.post("/api/v1/incidents/inc_0000000000000001/review",
                      json={"decision": "reject", "note": "shadow", "reason": "false_detection"})
    assert r.status_code == 200 and r.json()["review"]["reason"] == "false_detection"
    r = reviewer.post("/api/v1/incidents/inc_0000000000000002/review",
                      json={"decision": "confirm", "corrected_type": "street_vending"})
    assert r.status_code == 200 and r.json()["review"]["corrected_type"] == "street_vending"
    assert r.json()["type"] == "illegal_parking"  # what the detector said stays; the case takes the correction
    case = reviewer.get("/api/v1/incidents/inc_0000000000000002/case").json()
    assert case["event"]["type"] == "street_vending" and case["event"]["label_zh"] == "占道经营"
    assert reviewer.get("/api/v1/incidents/inc_0000000000000001/case").status_code == 404  # rejected: none
    for bad in ({"decision": "confirm", "reason": "false_detection"}, {"decision": "reject", "corrected_type": "x"},
                {"decision": "reject", "reason": "Not A Code!"}):
        assert reviewer.post("/api/v1/incidents/inc_0000000000000002/review", json=bad).status_code == 422

    assert reviewer.get("/api/v1/audit").status_code == 403
    log = admin.get("/api/v1/audit", params={"incident_id": "inc_0000000000000001"}).json()
    assert [(a["actor"], a["action"]) for a in log] == [("li", "incident.reject")]
    assert log[0]["before"] == {"status": "pending"}
    assert log[0]["after"]["reason"] == "false_detection" and log[0]["after"]["note"] == "shadow"
    log = admin.get("/api/v1/audit", params={"incident_id": "inc_0000000000000002"}).json()
    assert [a["action"] for a in log] == ["case.created", "incident.confirm"]  # newest first
    by_case = admin.get("/api/v1/audit", params={"case_id": case["id"]}).json()
    assert [a["action"] for a in by_case] == ["case.created"] and by_case[0]["actor"] == "li"
    assert by_case[0]["after"]["number"] == case["number"]


def test_batch_review_reports_per_id(env: ApiEnv) -> None:
    for n in (1, 2, 3):
        env.repo.add(incident(n))
    reviewer = env.client()
    assert reviewer.post("/api/v1/incidents/inc_0000000000000003/review", json={"decision": "confirm"}).status_code == 200
    r = reviewer.post("/api/v1/incidents/review-batch", json={
        "ids": ["inc_0000000000000001", "inc_0000000000000002", "inc_0000000000000003", "inc_nope",
                "inc_0000000000000001"], "decision": "reject", "note": "night glare", "reason": "false_detection"})
    assert r.status_code == 200, r.text
    results = {x["id"]: x for x in r.json()["results"]}
    assert len(r.json()["results"]) == 4  # the repeated id once
    assert results["inc_0000000000000001"]["status_code"] == 200
    assert results["inc_0000000000000001"]["incident"]["review"]["reason"] == "false_detection"
    assert results["inc_0000000000000002"]["status_code"] == 200
    assert results["inc_0000000000000003"]["status_code"] == 409
    assert results["inc_0000000000000003"]["incident"]["status"] == "confirmed"
    assert results["inc_nope"]["status_code"] == 404
    assert env.repo.get("inc_0000000000000002").status == "rejected"
    assert reviewer.post("/api/v1/incidents/review-batch", json={"ids": [], "decision": "reject"}).status_code == 422
    assert env.client("trainer").post("/api/v1/incidents/review-batch",
                                      json={"ids": ["inc_0000000000000001"], "decision": "reject"}).status_code == 403


def test_incident_filters_area_since_until_and_labels(env: ApiEnv) -> None:
    env.repo.add(incident(1))  # cam-01 west, T0+1min
    env.repo.add(incident(2, source="cam-02"))  # east, T0+2min
    env.repo.add(incident(3, source="cam-99"))  # no configured place
    client = env.client()

    def ids(**params) -> list[str]:
        r = client.get("/api/v1/incidents", params=params)
        assert r.status_code == 200, r.text
        return [i["id"][-1] for i in r.json()]

    assert ids(area="west") == ["1"] and ids(area="east") == ["2"] and ids(area="nowhere") == []
    assert ids(since=(T0 + timedelta(minutes=2)).isoformat()) == ["3", "2"]
    assert ids(until=(T0 + timedelta(minutes=2)).isoformat()) == ["1"]
    assert ids(since="2025-05-01T16:01:30+08:00", until="2025-05-01T08:02:30Z") == ["2"]
    assert ids(since="2025-05-01T08:01:30") == ["3", "2"]  # no zone: UTC
    r = client.get("/api/v1/incidents", params={"area": "west", "since": T0.isoformat()})
    assert r.headers["X-Total-Count"] == "1"
    assert r.json()[0]["labels"] == LABELS
    assert client.get("/api/v1/incidents", params={"since": "yesterday"}).status_code == 422


def test_moving_camera_case_takes_the_incidents_position(env: ApiEnv) -> None:
    env.repo.add(incident(1, source="bodycam-7", extra={"position": {"lng": 120.2, "lat": 30.3}, "area": "west"}))
    client = env.client()
    assert client.post("/api/v1/incidents/inc_0000000000000001/review", json={"decision": "confirm"}).status_code == 200
    case = client.get("/api/v1/incidents/inc_0000000000000001/case").json()
    assert case["location"] == {"source": "bodycam-7", "address": None, "lng": 120.2, "lat": 30.3, "grid": None,
                                "area": "west"}
    assert case["department"] == "交警大队 traffic police"  # the area came with the incident


def test_auto_case_above_a_per_type_threshold_only_when_configured(tmp_path: Path, database_url: str) -> None:
    env = ApiEnv(tmp_path, database_url, {**RULES, "cases": {"auto_case_min_confidence": {"illegal_parking": 0.9}}})
    try:
        env.repo.add(incident(1, score=0.95))
        env.repo.add(incident(2, score=0.85))
        env.repo.add(incident(3, type="street_vending", score=0.99))
        client = env.client()
        assert client.get("/api/v1/incidents/inc_0000000000000001/case").json()["reviewer"] is None
        assert client.get("/api/v1/incidents/inc_0000000000000002/case").status_code == 404
        assert client.get("/api/v1/incidents/inc_0000000000000003/case").status_code == 404
    finally:
        env.close()
    # off by default (the other tests' env): a pending incident never becomes a case by itself
    plain = ApiEnv(tmp_path / "plain", f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        plain.repo.add(incident(1, score=0.99))
        assert plain.cases.sweep() == 0 and plain.cases.get_for_incident("inc_0000000000000001") is None
    finally:
        plain.close()


def test_sweep_creates_cases_that_a_crash_left_out_and_retries_protection(env: ApiEnv) -> None:
    from api import IncidentRepository

    # confirmed by a process that died before making the case: a bare repository, no app listening
    bare = IncidentRepository(env.sessions)
    bare.add(incident(1))
    bare.review("inc_0000000000000001", "confirm", reviewer="zhao")
    assert env.cases.get_for_incident("inc_0000000000000001") is None

    calls: list[str] = []

    def flaky_protect(incident_id: str) -> None:
        calls.append(incident_id)
        if len(calls) == 1:
            raise ConnectionError("object storage down")

    env.cases._protect = flaky_protect
    assert env.cases.sweep() == 1
    case = env.cases.get_for_incident("inc_0000000000000001")
    assert case is not None and case.reviewer == "zhao"
    with env.sessions() as s:
        assert s.get(CaseRecord, case.id).evidence_protected is False
    assert env.cases.sweep() == 0  # nothing new; protection tried again and now it works
    with env.sessions() as s:
        assert s.get(CaseRecord, case.id).evidence_protected is True
    assert calls == ["inc_0000000000000001"] * 2
    env.cases.sweep()
    assert len(calls) == 2  # protected cases are left alone


def test_case_numbers_are_unique_per_day_under_concurrency(env: ApiEnv) -> None:
    for n in range(24):
        env.repo.add(incident(n))
    from api import IncidentRepository

    bare = IncidentRepository(env.sessions)  # confirm without the app's listener: threads make the cases
    for n in range(24):
        bare.review(f"inc_{n:016x}", "confirm", reviewer="r")
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for n in range(24):  # all threads race for every incident
                env.cases.create_for_incident(f"inc_{(n + k * 5) % 24:016x}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with env.sessions() as s:
        numbers = list(s.scalars(select(CaseRecord.number)))
        assert s.scalar(select(func.count()).select_from(OutboxRecord)) == 24
    assert len(numbers) == 24
    # numbers lost to a lost race are allowed (gaps), duplicates are not
    assert len(set(numbers)) == 24 and all(re.fullmatch(r"SS-\d{8}-\d{6}", n) for n in numbers)


def test_render_reads_late_evidence_without_writing_and_attach_records_it(tmp_path: Path, database_url: str) -> None:
    """A case by confidence is made before its clip is stored. Rendering its message (what is sent) shows the
    clip but writes nothing; ``attach_late_evidence``, the command the dispatch client runs before sending,
    records it on the case."""
    env = ApiEnv(tmp_path, database_url, {**RULES, "cases": {"auto_case_min_confidence": {"illegal_parking": 0.9}}})
    try:
        inc = env.repo.add(incident(1, score=0.95))
        case = env.cases.get_for_incident(inc.id)
        assert case is not None and [e.kind for e in case.evidence] == []
        env.repo.attach_evidence(inc.id, EvidenceItemIn(kind="clip", key=f"{inc.id}/clip.mp4", sha256="c" * 64,
                                                        size=10, content_type="video/mp4"))
        [message] = outbox_rows(env)
        assert message.payload["evidence"] == []
        body = env.cases.render(message)
        assert [e["kind"] for e in body["evidence"]] == ["clip"]
        assert [e.kind for e in env.cases.get(case.id).evidence] == []  # render wrote nothing
        assert env.cases.render(message) == body  # and says the same again

        assert env.cases.attach_late_evidence(message) is True
        assert [e.kind for e in env.cases.get(case.id).evidence] == ["clip"]
        assert env.cases.attach_late_evidence(message) is False  # nothing new
        assert env.cases.render(message) == body
    finally:
        env.close()
