"""Issue 14 item 4 on a real scene where the COCO model misses parked two-wheelers: four scooters parked in a row of
bays (a real photograph, tests/data/scooters, held as a fixed camera; tests/scenarios/real_scooters.py).

The model gives none of them a bicycle or motorcycle box at all, so the plain ``non_motor_parking`` rule reports
nothing. One example drawn around a scooter makes the camera report that scooter, and nothing else in the bays.
It does not find the other three: their embeddings are 0.73-0.81 alike to the example, below
``learning.example_similarity`` (0.85), and the frame's non-scooter candidates reach 0.80, so no threshold would
separate them (docs/measurements/taught-real-scooters.json; the issue's "and the others like it" is not met here)."""
from __future__ import annotations

import pytest

from tests.scenarios.real_scooters import RULE_MIN_SCORE, SCOOTERS, best_two_wheeler_scores, run_camera

pytestmark = pytest.mark.samples


def test_the_model_misses_every_scooter_and_the_plain_rule_reports_none() -> None:
    scores = best_two_wheeler_scores()
    assert len(scores) == len(SCOOTERS) and all(s < RULE_MIN_SCORE for s in scores), scores
    assert run_camera(None).reported == []


@pytest.mark.parametrize("example", [1, 2])
def test_one_example_reports_the_drawn_scooter_and_nothing_else_in_the_bays(example: int) -> None:
    run = run_camera(example)
    assert example in run.scooters, run.reported
    assert run.others == [], run.others  # nothing that is not a scooter
    assert all(r.class_name == "taught:scooter" for r in run.reported)
