"""Repeat offenders (issue 14, item 6): the same object seen again at the same camera and place after its
incident was confirmed and is over is linked to its history (how many times, which incidents and cases, when);
the reviewer sees it (``history`` on the incident) and the dispatch message carries it. A different object at
that place, the same object elsewhere, a violation still going on, a rejection and a case closed as invalid
link nothing. Vectors are synthetic, as in tests/test_verification.py (real appearance: tests/test_verifier.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from api.db import OutboxRecord
from api.embeddings import encode_vector
from api.schemas import EmbeddingIn
from streetsight.repeat_offenders import RepeatOffenders
from tests.api_env import ApiEnv, incident
from vision.repeats import RepeatParams

W, H = 320, 240
STALL = (40, 60, 120, 150)  # a vendor's pitch by the gate
ELSEWHERE = (200, 60, 280, 150)  # the same size, across the street
DIM = 64
DAY = timedelta(days=1)
# the end of an offence is recorded at the wall clock (mark_ended): the first sighting is an hour ago, the
# later ones in the days to come
T0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
RULES = {"dispatch": {"rules": [{"department": "城管中队 west", "areas": ["west"]}]}}


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, seed: int, noise: float = 0.1) -> np.ndarray:
    w = v + noise * unit(seed)
    return w / np.linalg.norm(w)


@pytest.fixture()
def env(tmp_path: Path, database_url: str):
    e = ApiEnv(tmp_path, database_url, RULES)
    RepeatOffenders(e.repo, RepeatParams()).attach()
    yield e
    e.close()


def sighting(env: ApiEnv, n: int, at: datetime, box, v: np.ndarray, **fields) -> str:
    fields = {"type": "street_vending", **fields}
    inc = incident(n, detected_wall=at, box=list(box), frame_size=[W, H],
                   embedding=EmbeddingIn(model="test@1", dim=DIM, crop=encode_vector(v)), **fields)
    return env.repo.add(inc).id


def offence(env: ApiEnv, n: int, at: datetime, box, v: np.ndarray) -> str:
    """Found, confirmed by a reviewer (a case is made), and over: the vendor left that evening."""
    incident_id = sighting(env, n, at, box, v)
    env.repo.review(incident_id, "confirm", reviewer="wang")
    env.repo.mark_ended(incident_id, 3600.0)
    return incident_id


def history(env: ApiEnv, incident_id: str):
    out = env.repo.get(incident_id)
    assert out is not None
    return out.history


def test_the_same_object_at_the_same_place_after_closure_is_linked_to_its_history(env: ApiEnv) -> None:
    stall = unit(1)
    first = offence(env, 1, T0, STALL, stall)
    first_case = env.cases.get_for_incident(first)
    assert first_case is not None and history(env, first) is None  # a first offence has no history

    # the next day the same stall is back at its pitch, its box a few pixels off
    second = sighting(env, 2, T0 + DAY, (STALL[0] + 3, STALL[1] - 2, STALL[2] + 4, STALL[3]), near(stall, 2))
    h = history(env, second)
    assert h is not None and h.count == 1
    [p] = h.previous
    assert (p.incident_id, p.case_number, p.detected_wall) == (first, first_case.number, T0)
    assert p.similarity is not None and p.similarity >= 0.8 and p.ended_wall is not None

    # the reviewer sees it on the incident (API), and the case message to dispatch carries it
    reviewer = env.client("reviewer", "wang")
    shown = reviewer.get(f"/api/v1/incidents/{second}").json()["history"]
    assert shown["count"] == 1 and shown["previous"][0]["case_number"] == first_case.number
    assert reviewer.post(f"/api/v1/incidents/{second}/review", json={"decision": "confirm"}).status_code == 200
    second_case = env.cases.get_for_incident(second)
    assert second_case is not None
    with env.sessions() as s:
        payloads = {m.key: m.payload for m in s.scalars(select(OutboxRecord))}
    assert payloads[first_case.number]["history"] is None
    sent = payloads[second_case.number]["history"]
    assert sent["count"] == 1 and [p["case_number"] for p in sent["previous"]] == [first_case.number]
    # the case API carries it too: one case, the list, and by incident; a first offence's case has none
    assert second_case.history is not None and second_case.history.model_dump(mode="json") == sent
    assert first_case.history is None
    shown_case = reviewer.get(f"/api/v1/cases/{second_case.id}").json()
    assert shown_case["history"] == sent
    listed = {c["number"]: c["history"] for c in reviewer.get("/api/v1/cases").json()}
    assert listed == {first_case.number: None, second_case.number: sent}

    # a third time, once the second is over too: both earlier offences, oldest first
    env.repo.mark_ended(second, 3600.0)
    third = sighting(env, 3, T0 + 2 * DAY, STALL, near(stall, 3))
    h3 = history(env, third)
    assert h3 is not None and h3.count == 2
    assert [p.incident_id for p in h3.previous] == [first, second]
    assert [p.case_number for p in h3.previous] == [first_case.number, second_case.number]
    assert (h3.first_wall, h3.last_wall) == (T0, T0 + DAY)


def test_a_different_object_there_the_same_object_elsewhere_and_other_types_are_not_repeats(env: ApiEnv) -> None:
    stall = unit(1)
    offence(env, 1, T0, STALL, stall)
    other_object = sighting(env, 2, T0 + DAY, STALL, unit(5))  # another vendor on the same pitch
    moved = sighting(env, 3, T0 + DAY, ELSEWHERE, near(stall, 6))  # the same stall across the street
    other_type = sighting(env, 4, T0 + DAY, STALL, near(stall, 7), type="illegal_parking")
    other_camera = sighting(env, 5, T0 + DAY, STALL, near(stall, 8), source="cam-02")
    for incident_id in (other_object, moved, other_type, other_camera):
        assert history(env, incident_id) is None, incident_id
    # the check is not vacuous: the stall itself at its pitch is linked
    assert history(env, sighting(env, 6, T0 + DAY, STALL, near(stall, 9))) is not None


def test_only_confirmed_offences_that_are_over_count(env: ApiEnv) -> None:
    stall, cart, crate = unit(1), unit(2), unit(3)
    # confirmed but still there: a second incident of it is the same violation, not a repeat
    ongoing = sighting(env, 1, T0, STALL, stall)
    env.repo.review(ongoing, "confirm")
    assert history(env, sighting(env, 2, T0 + DAY, STALL, near(stall, 11))) is None
    # rejected, then gone: no offence
    rejected = sighting(env, 3, T0, ELSEWHERE, cart)
    env.repo.review(rejected, "reject", reason="not_a_violation")
    env.repo.mark_ended(rejected, 600.0)
    assert history(env, sighting(env, 4, T0 + DAY, ELSEWHERE, near(cart, 12))) is None
    # confirmed, its case closed as invalid by the manual queue, the object never seen gone: no offence
    env.settings.dispatch.rules.clear()  # every case waits for a person
    crate_box = (120, 160, 180, 230)
    invalid = sighting(env, 5, T0, crate_box, crate, source="cam-02")
    env.repo.review(invalid, "confirm")
    case = env.cases.get_for_incident(invalid)
    assert case is not None and case.status == "manual"
    env.cases.invalidate(case.id, "a permitted market stall", actor="admin1")
    assert history(env, sighting(env, 6, T0 + DAY, crate_box, near(crate, 13), source="cam-02")) is None
    # the ongoing stall, once gone, makes the next sighting a repeat
    env.repo.mark_ended(ongoing, 3600.0)
    assert history(env, sighting(env, 7, T0 + 2 * DAY, STALL, near(stall, 14))).count == 1


def test_in_a_cluster_the_api_role_links_a_workers_incident_when_its_vectors_arrive(env: ApiEnv) -> None:
    from streetsight.cluster.bus_events import BusEvent, apply_event

    stall = unit(1)
    first = offence(env, 1, T0, STALL, stall)
    opened = incident(2, type="street_vending", detected_wall=T0 + DAY, box=list(STALL), frame_size=[W, H])
    # a worker publishes the incident, then its vectors once embedded (the consumer applies them in order)
    apply_event(env.repo, BusEvent.decode(BusEvent.opened(opened, "w1").encode()))
    assert history(env, opened.id) is None
    packed = EmbeddingIn(model="test@1", dim=DIM, crop=encode_vector(near(stall, 2)))
    apply_event(env.repo, BusEvent.decode(BusEvent.embedding(opened.id, packed, "w1").encode()))
    h = history(env, opened.id)
    assert h is not None and [p.incident_id for p in h.previous] == [first]


def test_the_repeat_settings_name_the_field_and_can_turn_it_off(env: ApiEnv) -> None:
    from streetsight.config import ConfigError, LearningConfig, parse_config
    from streetsight.repeat_offenders import attach_repeat_offenders

    for field, bad in (("repeat_place_iou", 0), ("repeat_min_similarity", 1.5), ("repeat_window_days", 0)):
        with pytest.raises(ConfigError, match=f"learning.{field}"):
            parse_config({"learning": {field: bad}})
    assert attach_repeat_offenders(env.repo, LearningConfig(repeat_offenders=False)) is None
    linker = attach_repeat_offenders(env.repo, LearningConfig(repeat_min_similarity=0.95, repeat_window_days=7))
    assert linker is not None and linker.params.min_similarity == 0.95 and linker.window == timedelta(days=7)
