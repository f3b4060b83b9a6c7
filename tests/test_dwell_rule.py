"""The dwell rule (illegal_parking) on synthetic tracked detections with exact expectations."""
from __future__ import annotations

import numpy as np

from detectors.dwell import DwellParams, DwellRule
from tests.rule_helpers import dets
from vision.zones import Zone

W, H = 1000, 500
ZONE = Zone.from_points("no-parking", ["illegal_parking"], [[0.5, 0.2], [1.0, 0.2], [1.0, 1.0], [0.5, 1.0]])
PARAMS = DwellParams(classes=("car", "truck", "bus"), min_score=0.35, min_dwell_s=20, stationary_tolerance=0.35,
                     motion_window_s=10, max_gap_s=5, leave_after_s=10, cooldown_s=60)


def run(frames, fps: float = 2.0, rule: DwellRule | None = None):
    rule = rule or DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    events = []
    for k, d in enumerate(frames):
        events += rule.update(d, k / fps, W, H)
    events += rule.finish()
    return events


CAR = [700, 300, 800, 380]


def test_parked_car_gives_exactly_one_incident_with_start_and_end():
    frames = [dets((1, "car", CAR, 0.8)) for _ in range(120)]  # 60 s parked
    frames += [dets() for _ in range(40)]  # then gone for 20 s
    events = run(frames)
    opened = [e for e in events if e.kind == "opened"]
    ended = [e for e in events if e.kind == "ended"]
    assert len(opened) == 1 and len(ended) == 1
    inc = opened[0].incident
    assert inc.type == "illegal_parking" and inc.zone_id == "no-parking" and inc.class_name == "car"
    assert inc.started_at == 0.0 and inc.confirmed_at == 20.0
    assert inc.ended_at == 59.5  # last seen at frame 119


def test_short_stop_gives_nothing():
    assert run([dets((1, "car", CAR, 0.8)) for _ in range(38)]) == []  # 19 s < dwell


def test_person_and_car_outside_zone_are_ignored():
    person = (2, "person", [700, 300, 730, 380], 0.9)
    outside = (3, "car", [100, 300, 200, 380], 0.9)
    assert run([dets(person, outside) for _ in range(120)]) == []


def test_moving_car_resets_dwell():
    frames = []
    for k in range(120):  # drives slowly across the zone: 10 px per frame, diagonal ~128 px
        x = 520 + 4 * k
        frames.append(dets((1, "car", [x, 300, x + 100, 380], 0.8)))
    assert run(frames) == []


def test_jittering_box_is_still_stationary():
    rng = np.random.default_rng(0)
    frames = [dets((1, "car", list(np.array(CAR) + rng.normal(0, 6, 4)), 0.8)) for _ in range(60)]
    opened = [e for e in run(frames) if e.kind == "opened"]
    assert len(opened) == 1


def test_track_id_switch_does_not_duplicate_incident():
    frames = [dets((1, "car", CAR, 0.8)) for _ in range(60)]
    frames += [dets((7, "car", CAR, 0.8)) for _ in range(80)]  # the tracker renamed the same car
    opened = [e for e in run(frames) if e.kind == "opened"]
    assert len(opened) == 1


def test_one_frame_false_positives_never_open():
    frames = [dets((k, "truck", CAR, 0.9)) if k % 5 == 0 else dets() for k in range(200)]
    assert run(frames) == []


def test_low_median_score_does_not_open():
    assert run([dets((1, "car", CAR, 0.36 if k % 3 else 0.9)) for k in range(30)]
               + [dets((1, "car", CAR, 0.2)) for _ in range(100)]) == []


def test_cooldown_blocks_same_spot_then_allows_after():
    parked = [dets((1, "car", CAR, 0.8)) for _ in range(50)]  # 25 s
    gap = [dets() for _ in range(30)]  # 15 s: ends the first incident
    back = [dets((2, "car", CAR, 0.8)) for _ in range(50)]
    events = run(parked + gap + back)
    # the return within cooldown opens nothing
    assert [e.kind for e in events] == ["opened", "ended"]
    long_gap = [dets() for _ in range(140)]  # 70 s > cooldown
    events = run(parked + long_gap + back)
    assert sum(e.kind == "opened" for e in events) == 2


def _handed_over_incident():
    """What a previous owner of the camera left open (its media clock was far ahead of ours)."""
    first = DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    events = []
    for k in range(60):
        events += first.update(dets((1, "car", CAR, 0.8)), 500 + k / 2, W, H)
    (opened,) = [e for e in events if e.kind == "opened"]
    return opened.incident


def test_adopted_incident_is_continued_not_opened_again():
    inc = _handed_over_incident()
    rule = DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    assert rule.adopt(inc)
    frames = [dets((7, "car", CAR, 0.8)) for _ in range(120)]  # the same car, new track id, new clock
    frames += [dets() for _ in range(40)]
    events = run(frames, rule=rule)
    assert [(e.kind, e.incident.id) for e in events] == [("ended", inc.id)]
    # in the incident's own clock (last seen at 529.5 by the old owner, just before the handover), continued
    # for the 59.5 s the new owner saw it: the age is the wall-time age, whatever the new stream's clock
    assert events[0].incident.ended_at == 529.5 + 59.5
    assert events[0].incident.ended_reason is None  # seen leaving


def test_adopted_incident_keeps_the_wall_time_that_passed_while_nobody_watched():
    inc = _handed_over_incident()  # last seen at 529.5 in its own clock
    rule = DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    assert rule.adopt(inc, seen_ago_s=100.0)  # a restart 100 s after the last sighting
    events = run([dets((7, "car", CAR, 0.8)) for _ in range(20)] + [dets() for _ in range(40)], rule=rule)
    assert [e.kind for e in events] == ["ended"]
    assert events[0].incident.ended_at == 529.5 + 100.0 + 9.5


def test_adopted_incident_ends_when_the_car_left_during_the_handover():
    inc = _handed_over_incident()
    rule = DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    rule.adopt(inc)
    events = run([dets() for _ in range(40)], rule=rule)
    assert [(e.kind, e.incident.id) for e in events] == [("ended", inc.id)]
    # never seen again: it left while nobody watched, after its last sighting (its own clock)
    assert events[0].incident.ended_at == 529.5
    assert events[0].incident.ended_reason == "interrupted"
    # the grace is leave_after_s (10 s here) of the new owner's frames, not the time since the last sighting
    rule = DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    rule.adopt(_handed_over_incident(), seen_ago_s=3600.0)
    events = [e for k in range(21) for e in rule.update(dets(), k / 2, W, H)]
    assert events == []  # 10 s of empty spot: still within the grace
    assert [e.incident.ended_reason for e in rule.update(dets(), 10.5, W, H)] == ["interrupted"]


def test_adopt_refuses_other_rules_incidents():
    inc = _handed_over_incident()
    inc.type = "street_vending"
    assert not DwellRule("illegal_parking", "cam", [ZONE], PARAMS).adopt(inc)
    inc.type, inc.zone_id = "illegal_parking", "elsewhere"
    assert not DwellRule("illegal_parking", "cam", [ZONE], PARAMS).adopt(inc)


def _ended_elsewhere():
    """An incident another worker opened and ended on this camera (its media clock far ahead of ours)."""
    first = DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    events = []
    for k in range(60):
        events += first.update(dets((1, "car", CAR, 0.8)), 500 + k / 2, W, H)
    events += first.finish()
    (ended,) = [e.incident for e in events if e.kind == "ended"]
    return ended


def test_remembered_incident_keeps_its_spot_cooling_down_on_the_new_owner():
    back = [dets((2, "car", CAR, 0.8)) for _ in range(60)]  # the car re-parks on the spot for 30 s
    rule = DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    assert rule.remember(_ended_elsewhere(), ended_ago_s=20)  # last seen 30 s ago, cooldown 60 s
    assert [e.kind for e in run(back, rule=rule)] == []
    # without the memory (or long after) the same dwell opens one
    assert [e.kind for e in run(back)] == ["opened", "ended"]
    late = DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    assert late.remember(_ended_elsewhere(), ended_ago_s=60)  # last seen 70 s ago
    assert [e.kind for e in run(back, rule=late)] == ["opened", "ended"]


def test_remember_refuses_other_rules_incidents():
    inc = _ended_elsewhere()
    inc.zone_id = "elsewhere"
    assert not DwellRule("illegal_parking", "cam", [ZONE], PARAMS).remember(inc, 1.0)


def test_a_clock_that_goes_back_starts_the_dwell_afresh_and_progress_is_reported():
    """A restarted stream (the camera's settings changed) restarts its media clock while frames of the previous
    reader may still reach the new rule: the dwell counts on the new clock instead of waiting for it to pass
    the old one (before: no incident until t = 30 + 20 s), and the preview never shows a negative dwell."""
    rule = DwellRule("illegal_parking", "cam", [ZONE], PARAMS)
    for t in (30.0, 30.5, 31.0):  # the old reader's frames
        assert rule.update(dets((1, "car", CAR, 0.8)), t, W, H) == []
    events = []
    for k in range(45):  # the new reader's clock starts at 0
        events += rule.update(dets((1, "car", CAR, 0.8)), k / 2, W, H)
        assert all(c.progress >= 0 for c in rule.in_progress())
    [opened] = [e.incident for e in events if e.kind == "opened"]
    assert (opened.started_at, opened.confirmed_at) == (0.0, 20.0)
    [candidate] = rule.in_progress()  # the open incident's spot, with its dwell so far
    assert (candidate.incident_id, candidate.progress, candidate.needed, candidate.unit) == (opened.id, 22.0, 20, "s")
