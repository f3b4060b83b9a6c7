"""Moving cameras (enforcement sources): k detections in n frames, the device's position, and findings of
one type at one place merged across devices. Scripted detections; positions set on frames directly."""
from __future__ import annotations

from detectors.context import FrameContext
from detectors.geo import GeoMerger, haversine_m
from detectors.sighting import SightingParams, SightingRule
from tests.rule_helpers import H, W, dets, opened
from vision.zones import Zone

ALL = Zone.from_points("view", ["illegal_parking"], [[0, 0], [1, 0], [1, 1], [0, 1]])
CAR = [300, 200, 420, 300]
P = SightingParams(classes=("car", "truck"), min_score=0.35, confirm_hits=3, confirm_frames=5, leave_after_s=10,
                   merge_radius_m=30, merge_window_s=600)


def run(rule, frames, positions, t0=0.0, fps=2.0):
    events = []
    for k, (d, pos) in enumerate(zip(frames, positions)):
        events += rule.observe(FrameContext(t0 + k / fps, W, H, position=pos), d)
    return events + rule.finish()


def pos(lat, lng, ts):
    return {"lat": lat, "lng": lng, "timestamp": ts}


def test_three_hits_in_five_frames_confirm_with_position():
    rule = SightingRule("illegal_parking", "bodycam-1", [ALL], P)
    frames = [dets((1, "car", CAR, 0.7)) if k in (0, 2, 4) else dets() for k in range(8)]
    events = run(rule, frames, [pos(30.0, 120.0, 1000 + k) for k in range(8)])
    incs = opened(events)
    assert len(incs) == 1
    inc = incs[0]
    assert inc.confirmed_at == 2.0 and inc.started_at == 0.0
    assert inc.extra["position"] == {"lat": 30.0, "lng": 120.0, "timestamp": 1004}
    assert inc.extra["devices"] == ["bodycam-1"]
    assert [e.kind for e in events] == ["opened", "ended"]


def test_two_hits_in_five_frames_are_not_enough():
    rule = SightingRule("illegal_parking", "bodycam-1", [ALL], P)
    frames = [dets((1, "car", CAR, 0.7)) if k in (0, 4, 8, 12) else dets() for k in range(16)]
    assert opened(run(rule, frames, [pos(30.0, 120.0, k) for k in range(16)])) == []


def test_same_place_from_two_devices_is_one_incident_far_away_is_another():
    merger = GeoMerger()
    a = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=merger)
    b = SightingRule("illegal_parking", "car-7", [ALL], P, merger=merger)
    seen = [dets((1, "car", CAR, 0.7))] * 4
    first = opened(run(a, seen, [pos(30.0, 120.0, 1000 + k) for k in range(4)]))
    # 10 m away, 2 minutes later, another device
    second = opened(run(b, seen, [pos(30.00009, 120.0, 1120 + k) for k in range(4)]))
    assert len(first) == 1 and second == []
    assert first[0].extra["devices"] == ["bodycam-1", "car-7"]
    # 500 m away: a different violation
    c = SightingRule("illegal_parking", "car-7", [ALL], P, merger=merger)
    assert len(opened(run(c, seen, [pos(30.0045, 120.0, 1200 + k) for k in range(4)]))) == 1
    # same place, long after the merge window: a new incident
    d = SightingRule("illegal_parking", "car-8", [ALL], P, merger=merger)
    assert len(opened(run(d, seen, [pos(30.0, 120.0, 5000 + k) for k in range(4)]))) == 1


def test_other_type_at_the_same_place_is_not_merged():
    merger = GeoMerger()
    zone = Zone.from_points("view", ["illegal_parking", "non_motor_parking"], [[0, 0], [1, 0], [1, 1], [0, 1]])
    cars = SightingRule("illegal_parking", "cam", [zone], P, merger=merger)
    bikes = SightingRule("non_motor_parking", "cam", [zone], SightingParams(classes=("bicycle",)), merger=merger)
    frames = [dets((1, "car", CAR, 0.7), (2, "bicycle", [500, 250, 540, 300], 0.7))] * 4
    positions = [pos(30.0, 120.0, k) for k in range(4)]
    assert len(opened(run(cars, frames, positions))) == 1
    assert len(opened(run(bikes, frames, positions))) == 1


def test_haversine():
    assert abs(haversine_m(30.0, 120.0, 30.0009, 120.0) - 100.1) < 0.5


def test_without_positions_one_sighting_streak_is_one_incident():
    """A device that sends no positions still confirms, once: the track keeps its incident."""
    rule = SightingRule("illegal_parking", "bodycam-1", [ALL], P)
    events = run(rule, [dets((1, "car", CAR, 0.7))] * 12, [None] * 12)
    assert [e.kind for e in events] == ["opened", "ended"]
    assert "position" not in events[0].incident.extra
