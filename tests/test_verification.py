"""Review decisions teach the camera (issue 14, item 3), through the records: an incident whose stored
embedding looks like a rejected one at the same camera and place is ``suppressed`` (reversible, audited),
one like a confirmed one is ranked first; a decision counts at once, one made by another process after a
poll. Vectors here are synthetic (the appearance on real footage is in tests/test_verifier.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from api.db import AuditRecord, create_engine_for, init_db, make_session_factory
from api.embeddings import encode_vector
from api.repository import IncidentRepository
from api.schemas import EmbeddingIn, IncidentCreate
from streetsight.cluster.bus_events import BusEvent, apply_event
from streetsight.verification import RecordVerification
from tests.api_env import ApiEnv
from vision.verifier import VerifierParams

W, H = 768, 576
SIGN = (408, 198, 448, 246)  # on the plaza
ELSEWHERE = (560, 470, 600, 518)  # the same size, on the lawn
DIM = 64


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, seed: int, noise: float = 0.1) -> np.ndarray:
    """``v`` seen again: cosine ~0.99."""
    w = v + noise * unit(seed)
    return w / np.linalg.norm(w)


def packed(v: np.ndarray) -> EmbeddingIn:
    return EmbeddingIn(model="test@1", dim=DIM, crop=encode_vector(v), ring=None)


def add(repo: IncidentRepository, incident_id: str, box, v: np.ndarray, source: str = "cam-1",
        type: str = "debris_spill") -> None:
    repo.add(IncidentCreate(id=incident_id, type=type, source=source, zone="plaza", started_at=1.0,
                            confirmed_at=21.0, class_name="static_object", box=list(box), score=0.7,
                            frame_size=[W, H], embedding=packed(v)))


def status(repo: IncidentRepository, incident_id: str) -> str:
    out = repo.get(incident_id)
    assert out is not None
    return out.status


@pytest.fixture
def repo(database_url: str):
    engine = create_engine_for(database_url)
    init_db(engine)
    yield IncidentRepository(make_session_factory(engine))
    engine.dispose()


@pytest.fixture
def learning(repo: IncidentRepository) -> RecordVerification:
    return RecordVerification(repo, VerifierParams()).attach()


def test_a_rejection_suppresses_the_same_object_at_the_same_place_from_the_next_incident_on(repo, learning):
    sign = unit(1)
    add(repo, "inc_sign_1", SIGN, sign)
    assert status(repo, "inc_sign_1") == "pending"  # nothing learned yet
    repo.review("inc_sign_1", "reject", reviewer="rev1", reason="false_detection")
    # the next run finds it again, its box a few pixels off
    add(repo, "inc_sign_2", (SIGN[0] + 4, SIGN[1] - 3, SIGN[2] + 5, SIGN[3] + 2), near(sign, 2))
    out = repo.get("inc_sign_2")
    assert out is not None and out.status == "suppressed" and out.suppressed_by == "inc_sign_1"
    assert [i.id for i in repo.list(status="pending")] == []  # not in the review queue
    assert [i.id for i in repo.list(status="suppressed")] == ["inc_sign_2"]
    with repo.sessions() as s:
        audit = s.scalars(select(AuditRecord).where(AuditRecord.incident_id == "inc_sign_2")).all()
        assert [(a.actor, a.action) for a in audit] == [("system:verifier", "incident.suppress")]


def test_a_rejection_mutes_neither_another_object_at_that_place_nor_the_object_elsewhere_nor_another_type(
        repo, learning):
    sign = unit(1)
    add(repo, "inc_sign_1", SIGN, sign)
    repo.review("inc_sign_1", "reject", reason="false_detection")
    add(repo, "inc_litter_at_sign", SIGN, unit(3))  # a different object where the sign stands
    add(repo, "inc_sign_moved", ELSEWHERE, near(sign, 4))  # the same object on the lawn
    add(repo, "inc_sign_other_type", SIGN, near(sign, 5), type="street_vending")
    add(repo, "inc_sign_other_camera", SIGN, near(sign, 6), source="cam-2")
    assert {i.id: i.status for i in repo.list()} == {
        "inc_sign_1": "rejected", "inc_litter_at_sign": "pending", "inc_sign_moved": "pending",
        "inc_sign_other_type": "pending", "inc_sign_other_camera": "pending"}
    # and the rejected object at its place still is suppressed (the check above is not vacuous)
    add(repo, "inc_sign_2", SIGN, near(sign, 7))
    assert status(repo, "inc_sign_2") == "suppressed"


def test_rejections_that_do_not_clear_the_object_suppress_nothing(repo, learning):
    sign = unit(1)
    add(repo, "inc_sign_1", SIGN, sign)
    repo.review("inc_sign_1", "reject", reason="poor_evidence")
    add(repo, "inc_sign_2", SIGN, near(sign, 2))
    assert status(repo, "inc_sign_2") == "pending"


def test_a_confirmation_ranks_look_alikes_first_in_the_queue(repo, learning):
    bag = unit(10)
    add(repo, "inc_bag_1", SIGN, bag)
    repo.review("inc_bag_1", "confirm", reviewer="rev1")
    add(repo, "inc_bag_2", SIGN, near(bag, 11))  # older
    add(repo, "inc_other", ELSEWHERE, unit(12))  # newer: first by time alone
    pending = repo.list(status="pending")
    assert [i.id for i in pending] == ["inc_bag_2", "inc_other"]
    assert pending[0].priority >= 0.8 and pending[1].priority == 0.0
    assert [i.id for i in repo.list()][:2] == ["inc_other", "inc_bag_2"]  # other listings stay newest first


def test_other_cameras_confirmations_boost_a_camera_with_few_examples_but_never_suppress(repo, learning):
    bag, sign = unit(10), unit(1)
    add(repo, "inc_bag_cam2", SIGN, bag, source="cam-2")
    repo.review("inc_bag_cam2", "confirm")
    add(repo, "inc_sign_cam2", SIGN, sign, source="cam-2")
    repo.review("inc_sign_cam2", "reject", reason="false_detection")
    add(repo, "inc_bag_cam1", ELSEWHERE, near(bag, 11), source="cam-1")
    add(repo, "inc_sign_cam1", SIGN, near(sign, 2), source="cam-1")
    bag_out, sign_out = repo.get("inc_bag_cam1"), repo.get("inc_sign_cam1")
    assert bag_out is not None and bag_out.status == "pending" and bag_out.priority >= 0.8
    assert sign_out is not None and sign_out.status == "pending" and sign_out.priority == 0.0


def test_decisions_stored_by_another_process_are_picked_up_from_the_records(database_url: str):
    engines = [create_engine_for(database_url) for _ in range(2)]
    init_db(engines[0])
    ingest, api = (IncidentRepository(make_session_factory(e)) for e in engines)
    # the process that stores the workers' embeddings (refresh_s=0: look at every judgement)
    learning = RecordVerification(ingest, VerifierParams(), refresh_s=0.0).attach()
    sign = unit(1)
    add(ingest, "inc_sign_1", SIGN, sign)
    api.review("inc_sign_1", "reject", reason="false_detection")  # another process: no listener here
    assert len(learning.book) == 0
    add(ingest, "inc_sign_2", SIGN, near(sign, 2))
    assert status(api, "inc_sign_2") == "suppressed" and len(learning.book) == 1
    # a fresh process learns from the records at start
    assert RecordVerification(api, VerifierParams()).reload() == 1
    for e in engines:
        e.dispose()


def test_a_reviewer_un_suppresses_through_the_api_and_it_is_audited(tmp_path: Path, database_url: str):
    env = ApiEnv(tmp_path, database_url)
    try:
        RecordVerification(env.repo, VerifierParams()).attach()
        sign = unit(1)
        add(env.repo, "inc_sign_1", SIGN, sign)
        reviewer = env.client("reviewer")
        r = reviewer.post("/api/v1/incidents/inc_sign_1/review",
                          json={"decision": "reject", "reason": "false_detection"})
        assert r.status_code == 200, r.text
        add(env.repo, "inc_sign_2", SIGN, near(sign, 2))
        listed = reviewer.get("/api/v1/incidents", params={"status": "suppressed"}).json()
        assert [(i["id"], i["suppressed_by"]) for i in listed] == [("inc_sign_2", "inc_sign_1")]
        assert reviewer.get("/api/v1/incidents", params={"status": "pending"}).json() == []

        r = reviewer.post("/api/v1/incidents/inc_sign_2/unsuppress")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "pending" and r.json()["suppressed_by"] == "inc_sign_1"
        assert [i["id"] for i in reviewer.get("/api/v1/incidents", params={"status": "pending"}).json()] \
            == ["inc_sign_2"]
        assert reviewer.post("/api/v1/incidents/inc_sign_2/unsuppress").status_code == 200  # a retry: unchanged
        env.repo.attach_embedding("inc_sign_2", packed(near(sign, 2)))  # e.g. a redelivered bus event
        assert status(env.repo, "inc_sign_2") == "pending"  # a reviewer's word stands
        assert reviewer.post("/api/v1/incidents/inc_sign_1/unsuppress").status_code == 409  # reviewed
        assert reviewer.post("/api/v1/incidents/inc_nope/unsuppress").status_code == 404
        trainer = env.client("trainer")
        assert trainer.post("/api/v1/incidents/inc_sign_2/unsuppress").status_code == 403
        with env.sessions() as s:
            audit = s.scalars(select(AuditRecord).where(AuditRecord.incident_id == "inc_sign_2")).all()
            assert [(a.actor, a.action) for a in audit] == [("system:verifier", "incident.suppress"),
                                                            ("reviewer1", "incident.unsuppress")]
    finally:
        env.close()


def test_in_a_cluster_the_api_role_judges_the_workers_embeddings_as_it_stores_them(repo, learning):
    sign = unit(1)
    add(repo, "inc_sign_1", SIGN, sign)
    repo.review("inc_sign_1", "reject", reason="false_detection")
    opened = IncidentCreate(id="inc_sign_2", type="debris_spill", source="cam-1", zone="plaza", started_at=1.0,
                            confirmed_at=21.0, class_name="static_object", box=list(SIGN), score=0.7,
                            frame_size=[W, H])
    # a worker publishes the incident, then its vectors once embedded (the consumer applies them in order)
    apply_event(repo, BusEvent.decode(BusEvent.opened(opened, "w1").encode()))
    assert status(repo, "inc_sign_2") == "pending"
    apply_event(repo, BusEvent.decode(BusEvent.embedding("inc_sign_2", packed(near(sign, 2)), "w1").encode()))
    assert status(repo, "inc_sign_2") == "suppressed"


def test_the_verifier_settings_name_the_field_and_can_turn_it_off(repo):
    from streetsight.config import ConfigError, LearningConfig, parse_config
    from streetsight.verification import attach_verification

    for field, bad in (("place_iou", 0), ("min_similarity", 1.5), ("refresh_s", 0), ("min_camera_examples", -1)):
        with pytest.raises(ConfigError, match=f"learning.{field}"):
            parse_config({"learning": {field: bad}})
    assert attach_verification(repo, LearningConfig(verifier=False)) is None
    sign = unit(1)
    add(repo, "inc_sign_1", SIGN, sign)
    repo.review("inc_sign_1", "reject", reason="false_detection")
    add(repo, "inc_sign_2", SIGN, near(sign, 2))
    assert status(repo, "inc_sign_2") == "pending"  # turned off: nothing judges it
    learning = attach_verification(repo, LearningConfig(place_iou=0.9, min_similarity=0.9))
    assert learning is not None and learning.params.place_iou == 0.9 and len(learning.book) == 1


def test_a_reviewer_may_decide_on_a_suppressed_incident_directly(repo, learning):
    sign = unit(1)
    add(repo, "inc_sign_1", SIGN, sign)
    repo.review("inc_sign_1", "reject", reason="false_detection")
    add(repo, "inc_sign_2", SIGN, near(sign, 2))
    assert status(repo, "inc_sign_2") == "suppressed"
    out = repo.review("inc_sign_2", "confirm", reviewer="rev1")  # it was a real violation after all
    assert out.status == "confirmed" and out.suppressed_by == "inc_sign_1"
    with repo.sessions() as s:
        audit = s.scalars(select(AuditRecord).where(AuditRecord.incident_id == "inc_sign_2",
                                                    AuditRecord.action == "incident.confirm")).one()
        assert audit.before == {"status": "suppressed"}
    # the confirmation now teaches the same place the other way: the nearest decision wins
    add(repo, "inc_sign_3", SIGN, near(near(sign, 2), 3, noise=0.01))  # nearer the confirmed one
    assert status(repo, "inc_sign_3") == "pending" and repo.get("inc_sign_3").priority >= 0.8
