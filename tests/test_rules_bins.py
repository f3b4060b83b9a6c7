"""Overflowing bins: the few-shot state classifier (features chosen by measured accuracy) and the bin rule
on rendered bin crops; model classes by configuration."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from detectors.bins import FULL_CLASS, BinParams, BinRule
from detectors.context import FrameContext
from detectors.dwell import DwellParams, DwellRule
from tests.rule_helpers import dets, opened
from tests.scenarios.render import bin_crops, bin_image
from vision.bin_state import DEFAULT_FEATURES, BinStateClassifier, compare_features
from vision.zones import Zone

W, H = 400, 300
REGION = (200, 100, 260, 184)  # the bin stands here (pixels)
ZONE = Zone.from_points("bin-1", ["overflowing_bin"], [[0.5, 1 / 3], [0.65, 1 / 3], [0.65, 184 / 300], [0.5, 184 / 300]])


@pytest.mark.parametrize("shots", [3, 5, 10])
def test_default_features_are_the_most_accurate_few_shot_and_accurate_enough(shots):
    crops, labels = bin_crops(20, seed=900)
    acc = compare_features(crops, labels, shots=shots, repeats=6)
    assert DEFAULT_FEATURES == "embedding" and acc["embedding"] >= acc["colour"]
    assert acc[DEFAULT_FEATURES] == max(acc.values())
    assert acc[DEFAULT_FEATURES] >= 0.9 and acc["thumbnail"] < acc[DEFAULT_FEATURES]


def write_examples(folder, n=5):
    """This camera's bin (one colour) in varied light: what an operator labels."""
    crops, labels = bin_crops(n, seed=400, bodies=[(40, 110, 40)])
    for k, (crop, full) in enumerate(zip(crops, labels)):
        d = folder / ("full" if full else "not_full")
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{k}.jpg"), crop)


def test_classifier_from_a_folder_of_labelled_crops(tmp_path):
    write_examples(tmp_path)
    clf = BinStateClassifier.from_folder(tmp_path)
    assert clf.probability_full(bin_image(True, 77)) > 0.5 > clf.probability_full(bin_image(False, 78))


def test_a_folder_without_both_states_is_a_clear_error(tmp_path):
    (tmp_path / "full").mkdir()
    cv2.imwrite(str(tmp_path / "full" / "a.jpg"), bin_image(True, 1))
    with pytest.raises(ValueError, match="not_full: no labelled crops"):
        BinStateClassifier.from_folder(tmp_path)


def frame_with(full: bool, seed: int) -> np.ndarray:
    img = np.full((H, W, 3), 120, np.uint8)
    x1, y1, x2, y2 = REGION
    img[y1:y2, x1:x2] = bin_image(full, seed, size=(x2 - x1, y2 - y1))
    return img


def bin_rule(classifier) -> BinRule:
    core = DwellRule("overflowing_bin", "cam", [ZONE], DwellParams(classes=None, min_score=0.6, min_dwell_s=10,
                                                                  leave_after_s=5, max_gap_s=6))
    return BinRule(core, BinParams(classes=("overflowing_bin",), occluder_classes=("person",)),
                   {"bin-1": classifier} if classifier else {})


def test_bin_full_for_the_dwell_opens_once_a_person_in_front_does_not_break_it(tmp_path):
    write_examples(tmp_path)
    rule = bin_rule(BinStateClassifier.from_folder(tmp_path))
    person = (1, "person", [205, 110, 250, 200], 0.9)
    events = []
    for k in range(120):  # 60 s at 2 fps: full from 10 s to 40 s, a person in front at 14-18 s
        t = k / 2
        full = 10 <= t < 40
        d = dets(person) if 14 <= t < 18 else dets()
        events += rule.observe(FrameContext(t, W, H, image=frame_with(full, 1000 + k)), d)
    events += rule.finish()
    assert [e.kind for e in events] == ["opened", "ended"]
    inc = events[0].incident
    assert inc.class_name == FULL_CLASS and inc.started_at == 10.0 and inc.confirmed_at == 20.0
    assert inc.ended_at == 39.5


def test_model_class_overflowing_bin_without_a_classifier():
    rule = bin_rule(None)
    assert not rule.needs_image
    frames = [dets((3, "overflowing_bin", [210, 110, 255, 180], 0.8))] * 30
    events = []
    for k, d in enumerate(frames):
        events += rule.observe(FrameContext(k / 2, W, H), d)
    assert len(opened(events)) == 1 and opened(events)[0].class_name == "overflowing_bin"


def test_frames_with_someone_in_front_of_the_bin_are_not_judged(tmp_path):
    write_examples(tmp_path)
    rule = bin_rule(BinStateClassifier.from_folder(tmp_path))
    image = frame_with(True, 5)
    rule.observe(FrameContext(0.0, W, H, image=image), dets((1, "person", [205, 110, 250, 200], 0.9)))
    assert rule.last_probabilities == {}
    rule.observe(FrameContext(0.5, W, H, image=image), dets((1, "person", [20, 110, 60, 200], 0.9)))
    assert rule.last_probabilities["bin-1"] > 0.6
