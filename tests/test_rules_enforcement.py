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


def walk_past(rule, frames: int, start_m: float = 0.0, m_per_frame: float = 1.0, t0: float = 0.0, track: int = 1,
              name: str = "truck") -> list:
    """A device walking north along the kerb (1 m per frame, 2 fps) that keeps seeing one parked van."""
    out = []
    for k in range(frames):
        metres = start_m + k * m_per_frame
        position = pos(30.0 + metres * 0.000009, 120.0, 1000 + t0 + k / 2)
        out += rule.observe(FrameContext(t0 + k / 2, W, H, position=position), dets((track, name, CAR, 0.7)))
    return out


def test_the_van_seen_while_walking_on_is_one_incident_when_its_track_breaks_far_from_where_it_was_found():
    """The van is found at 0 m and seen while the device walks 60 m on; then the tracker loses it and it comes
    back as a new track (its class flickered from truck to car). It is 60 m from where it was found, 1 m from where it was last
    seen: the same incident (before, a finding kept only its first place: the van was opened twice)."""
    merger = GeoMerger()
    rule = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=merger)
    first = opened(walk_past(rule, 60))
    again = opened(walk_past(rule, 6, start_m=61, t0=30.5, track=2, name="car"))
    assert len(first) == 1 and again == []
    assert [i.id for i in rule.open_incidents] == [first[0].id]
    assert rule.open_incidents[0].last_seen_at == 33.0


def test_a_finding_seen_along_a_walk_does_not_swallow_the_next_vehicle_further_on():
    merger = GeoMerger()
    rule = SightingRule("illegal_parking", "bodycam-1", [ALL], P, merger=merger)
    first = opened(walk_past(rule, 60))
    # another parked van 50 m beyond the last sighting (110 m from the first): a new incident
    further = opened(walk_past(rule, 6, start_m=110, t0=55.0, track=2))
    assert len(first) == 1 and len(further) == 1 and further[0].id != first[0].id
