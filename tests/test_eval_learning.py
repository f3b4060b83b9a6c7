"""`streetsight eval --learning` (issue 14, item 7): replay labelled incidents in time order, feed the first K review
decisions to the per-camera verifier, and measure precision and recall after each step. On the rendered scenarios
(a fixture taken for debris, a delivery tricycle taken for a stall, a bin that looks full in dappled shade; two
days each) and on the vtest street (the fire assembly-point sign beside two pieces of litter), learning removes
the repeated false positive of the second day and loses no true one. The figures come from the run."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from streetsight.cli import main
from streetsight.evaluation.learning import Replayed, replay
from streetsight.evaluation.matching import FoundIncident
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 - a fixture
from vision.verifier import VerifierParams

CABINET = (0.40, 0.50, 0.45, 0.58)
BAG_1, BAG_2 = (0.30, 0.60, 0.35, 0.65), (0.60, 0.62, 0.65, 0.67)


def unit(seed: int, dim: int = 32) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, seed: int) -> np.ndarray:
    w = v + 0.1 * unit(seed, len(v))
    return w / np.linalg.norm(w)


def item(name: str, at: float, box, crop: np.ndarray, event: str | None) -> Replayed:
    inc = FoundIncident("day", "debris_spill", at - 10, at, None, box, id=name)
    return Replayed("cam", "day", inc, event, crop, box, at)


def test_each_incident_is_judged_by_the_decisions_made_before_it():
    cabinet, other = unit(1), unit(2)
    items = [item("cabinet-1", 10, CABINET, cabinet, None), item("bag-1", 20, BAG_1, unit(3), "bag-1"),
             item("cabinet-2", 110, CABINET, near(cabinet, 4), None), item("bag-2", 120, BAG_2, unit(5), "bag-2"),
             item("crate-at-cabinet", 130, CABINET, other, "crate")]  # a real one where the cabinet stands
    steps = replay(items, 3, VerifierParams())
    assert [s.decisions for s in steps] == [0, 1, 2, 3, 4, 5]
    assert (steps[0].tp, steps[0].fp, steps[0].precision, steps[0].recall) == (3, 2, 0.6, 1.0)
    # one rejection of the cabinet removes its second sighting; the crate at its place is still reported
    for s in steps[1:]:
        assert (s.tp, s.fp, s.fp_removed, s.tp_lost, s.recall) == (3, 1, 1, 0, 1.0)
    # a decision never judges its own incident, nor one before it: the first cabinet is always reported
    assert steps[-1].fp == 1


def test_learning_that_mutes_a_real_violation_shows_as_true_positives_lost():
    look_alike = unit(7)
    items = [item("cabinet-1", 10, CABINET, look_alike, None),
             item("real-bag-same-look", 110, CABINET, near(look_alike, 8), "bag")]
    steps = replay(items, 1, VerifierParams())
    assert (steps[0].tp, steps[0].tp_lost) == (1, 0)
    assert (steps[1].tp, steps[1].tp_lost, steps[1].fn, steps[1].recall) == (0, 1, 1, 0.0)


def run_learning(folder: Path, out: Path, *extra: str) -> dict:
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["eval", "--learning", "--annotations", str(folder), "--videos", str(folder), "--config",
                     str(folder / "config.yaml"), "--out", str(out), "--json", *extra]) == 0
    return json.loads(buf.getvalue())


def assert_learning_helps(camera: dict) -> None:
    """More precise after the decisions, no true positive lost at any step, and the figures add up."""
    steps = camera["steps"]
    first, last = steps[0], steps[-1]
    assert first["fp"] > 0 and first["fp_removed"] == 0
    assert last["precision"] > first["precision"]
    assert last["fp_removed"] > 0 and last["fp"] == first["fp"] - last["fp_removed"]
    assert all(s["tp_lost"] == 0 and s["recall"] == first["recall"] for s in steps)
    assert len(steps) == len(camera["decisions"]) + 1


@pytest.fixture(scope="module")
def learning_scenarios(vtest_mp4, tmp_path_factory) -> Path:
    from tests.scenarios.learning import render_learning

    return render_learning(tmp_path_factory.mktemp("learning-scenarios"), str(vtest_mp4))


@pytest.mark.samples
def test_learning_on_the_rendered_scenarios(learning_scenarios: Path, tmp_path: Path):
    report = run_learning(learning_scenarios, tmp_path / "out", "--detections", str(learning_scenarios))
    cameras = report["cameras"]
    assert set(cameras) == {"fixture_debris", "tricycle_stall", "shadow_bin"}
    for name, camera in cameras.items():
        assert camera["videos"] == [f"{name}-day1", f"{name}-day2"]
        assert camera["steps"][0]["recall"] == 1.0, name  # the rules find every real violation...
        assert camera["steps"][0]["fp"] == 2, name  # ...and make the same mistake on both days
        assert_learning_helps(camera)
        # the second day's mistake is suppressed by the first day's rejection, the real one is not
        suppressed = [j for j in camera["judgements"] if j["action"] == "suppress"]
        assert [(j["video"], j["true"], j["matched_verdict"]) for j in suppressed] == [(f"{name}-day2", False,
                                                                                       "rejected")], name
    assert_learning_helps(report["all"])
    for name in ("learning.json", "learning.png"):
        assert (tmp_path / "out" / name).stat().st_size > 500, name


@pytest.mark.samples
def test_learning_on_the_vtest_street(vtest_mp4, tmp_path: Path):
    from tests.scenarios.learning import render_vtest_days

    folder = render_vtest_days(tmp_path / "vtest", vtest_mp4)
    report = run_learning(folder, tmp_path / "out")
    camera = report["cameras"]["vtest"]
    assert camera["events"] == 4 and camera["steps"][0]["recall"] == 1.0  # the litter, both days
    assert_learning_helps(camera)
    rejected = [d for d in camera["decisions"] if d["decision"] == "reject"]
    assert [(d["video"], d["zone"]) for d in rejected] == [("vtest-day1", "plaza"), ("vtest-day2", "plaza")]
    sign_again = next(j for j in camera["judgements"] if j["incident"] == rejected[1]["incident"])
    assert sign_again["action"] == "suppress" and sign_again["matched"].endswith(rejected[0]["incident"])
