"""Class-agnostic static objects and the debris rule on rendered frames (no model: people are given as
tracked boxes, as the tracker would give them). Exact expectations in analysed frames at 2 fps."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.context import FrameContext
from detectors.debris import STATIC_CLASS, DebrisParams, DebrisRule
from detectors.dwell import DwellParams, DwellRule
from tests.rule_helpers import dets, opened
from tests.scenarios.render import Actor, Scene, Sprite, bag_sprite, still
from vision.static_objects import StaticObjectDetector, StaticObjectParams
from vision.zones import Zone

W, H, FPS = 480, 320, 2.0
ZONE = [[0.1, 0.3], [0.9, 0.3], [0.9, 0.95], [0.1, 0.95]]
BAG_AT = (220, 180)


def street(seed: int = 0) -> np.ndarray:
    """Asphalt with grain, a lane marking and a kerb: texture for jitter to act on."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 95, np.float32) + rng.normal(0, 6, (H, W, 1))
    img[:, :, 0] += 4
    img[150:154, 40:440] = 220  # lane marking
    img[:60] = (120, 140, 150)  # pavement
    img[58:64] = 170  # kerb
    return np.clip(img, 0, 255).astype(np.uint8)


def person_sprite() -> Sprite:
    img = np.zeros((70, 26, 3), np.uint8)
    img[:] = (60, 50, 140)
    img[:18] = (150, 170, 200)
    return Sprite(img, np.ones((70, 26), np.float32))


def frames(scene: Scene, seconds: float):
    for k in range(int(seconds * FPS)):
        t = k / FPS
        yield t, scene.draw(int(t * 10), t)


def run_detector(scene: Scene, seconds: float, baseline="scene", people=None):
    sod = StaticObjectDetector([np.array(ZONE)], StaticObjectParams(baseline=baseline, fps=FPS, static_after_s=4))
    out = []
    for t, img in frames(scene, seconds):
        ignore = np.array(people(t), dtype=float).reshape(-1, 4) if people else None
        out.append((t, sod.update(img, ignore)))
    return out


def found_at(result, box, min_iou=0.3):
    from detectors.stationarity import iou

    return [t for t, blobs in result if any(iou(np.array(b.box), np.array(box)) >= min_iou for b in blobs)]


def bag_box():
    h, w = bag_sprite(3).mask.shape
    return [BAG_AT[0], BAG_AT[1], BAG_AT[0] + w, BAG_AT[1] + h]


def test_dumped_bag_is_static_after_the_short_term_window_and_gone_when_removed():
    scene = Scene(street(), [Actor(bag_sprite(3), still(*BAG_AT), 10, 30)], seed=1)
    result = run_detector(scene, 40)
    times = found_at(result, bag_box())
    # appears at 10 s; static after 4 s (8 analysed frames); removed at 30 s
    assert times[0] == pytest.approx(13.5, abs=1.0) and times[-1] == 29.5
    assert times == [t for t in np.arange(times[0], 30, 0.5)]  # every frame in between
    assert all(not blobs for t, blobs in result if t < 13 or t >= 30)  # nothing else, ever


def test_camera_jitter_and_a_lighting_change_create_no_objects_and_keep_the_bag():
    def gain(t):
        return 1.0 - 0.3 * min(1.0, max(0.0, (t - 20) / 2))  # light drops by 30 % at 20-22 s

    empty = Scene(street(), [], jitter_px=3, gain=gain, seed=2)
    assert all(not blobs for _, blobs in run_detector(empty, 40))
    with_bag = Scene(street(), [Actor(bag_sprite(3), still(*BAG_AT), 5, 60)], jitter_px=3, gain=gain, seed=2)
    result = run_detector(with_bag, 40)
    times = found_at(result, bag_box())
    assert times[0] <= 10 and times == [t for t in np.arange(times[0], 40, 0.5)]


def test_a_person_standing_still_is_not_debris_and_does_not_hide_a_bag_for_good():
    person_at = (300, 170)
    box = [person_at[0], person_at[1], person_at[0] + 26, person_at[1] + 70]
    scene = Scene(street(), [Actor(person_sprite(), still(*person_at), 5, 30)], seed=3)
    assert all(not blobs for _, blobs in run_detector(scene, 35, people=lambda t: [box] if 5 <= t < 30 else []))
    # a person walking over the bag: the bag's evidence is held while the person covers it
    walk_box = lambda t: [150 + 10 * (t - 20), 170, 176 + 10 * (t - 20), 240]  # noqa: E731
    scene = Scene(street(), [Actor(bag_sprite(3), still(*BAG_AT), 5, 60),
                             Actor(person_sprite(), lambda t: walk_box(t)[:2], 20, 30)], seed=3)
    result = run_detector(scene, 35, people=lambda t: [walk_box(t)] if 20 <= t < 30 else [])
    times = found_at(result, bag_box())
    assert times[0] <= 10 and times == [t for t in np.arange(times[0], 35, 0.5)]


def test_surface_baseline_finds_what_lay_there_from_the_start_and_scene_baseline_does_not():
    scene = Scene(street(), [Actor(bag_sprite(3), still(*BAG_AT), 0, 99)], seed=4)
    assert found_at(run_detector(scene, 15, baseline="surface"), bag_box())
    assert found_at(run_detector(scene, 15, baseline="scene"), bag_box()) == []


def debris_rule(model_classes=("debris",)):
    zone = Zone.from_points("kerb", ["debris_spill"], ZONE)
    core = DwellRule("debris_spill", "cam", [zone], DwellParams(classes=None, min_score=0.35, min_dwell_s=10,
                                                               stationary_tolerance=0.25, leave_after_s=5))
    sod = StaticObjectDetector([zone.polygon], StaticObjectParams(fps=FPS, static_after_s=4))
    return DebrisRule(core, DebrisParams(classes=model_classes, ignore_classes=("person",)), sod)


def test_debris_rule_opens_once_and_records_the_end():
    scene = Scene(street(), [Actor(bag_sprite(3), still(*BAG_AT), 10, 40)], seed=5)
    rule = debris_rule()
    events = []
    for t, img in frames(scene, 50):
        events += rule.observe(FrameContext(t, W, H, image=img), dets())
    events += rule.finish()
    assert [e.kind for e in events] == ["opened", "ended"]
    inc = events[0].incident
    assert inc.class_name == STATIC_CLASS and 13 <= inc.started_at <= 15 and inc.confirmed_at == inc.started_at + 10
    assert inc.ended_at == 39.5


def test_model_debris_class_and_static_object_are_combined():
    scene = Scene(street(), [Actor(bag_sprite(3), still(*BAG_AT), 0, 99)], seed=6)
    rule = debris_rule()
    b = bag_box()
    events = []
    for k, (t, img) in enumerate(frames(scene, 30)):
        d = dets((1, "debris", b, 0.5)) if t >= 10 else dets()
        events += rule.observe(FrameContext(t, W, H, image=img), d)
    incs = opened(events + rule.finish())
    # one incident: the model saw the bag (from 10 s) where no static object was (it lay there from the start)
    assert len(incs) == 1 and incs[0].class_name == "debris" and incs[0].confirmed_at == 20.0
