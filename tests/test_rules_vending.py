"""Street vending on scripted detections (rule logic): COCO clusters, trained classes, night-market hours."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from detectors.context import FrameContext
from detectors.dwell import DwellParams, DwellRule
from detectors.schedule import AllowedHours
from detectors.vending import VendingParams, VendingRule, clusters
from tests.rule_helpers import H, W, dets, opened, run_rule
from vision.zones import Zone

import numpy as np

SQUARE = Zone.from_points("square", ["street_vending"], [[0.2, 0.2], [0.8, 0.2], [0.8, 1.0], [0.2, 1.0]])
COCO_ITEMS = ("umbrella", "dining table", "chair", "bicycle", "motorcycle", "suitcase")
PERSON = [400, 200, 440, 320]
UMBRELLA = [380, 170, 470, 200]
TABLE = [445, 260, 520, 320]


def rule(items=COCO_ITEMS, persons=("person",), hours=AllowedHours(())) -> VendingRule:
    core = DwellRule("street_vending", "cam", [SQUARE], DwellParams(
        classes=None, min_score=0.3, min_dwell_s=30, stationary_tolerance=0.5, leave_after_s=5,
        allowed_hours=hours))
    return VendingRule(core, VendingParams(item_classes=items, person_classes=persons))


def vendor(k: int = 0):
    return dets((1, "person", PERSON, 0.8), (2, "umbrella", UMBRELLA, 0.6), (3, "dining table", TABLE, 0.5))


def test_stationary_vendor_cluster_opens_one_incident_and_ends_when_gone():
    events = run_rule(rule(), [vendor() for _ in range(100)] + [dets() for _ in range(20)])
    incs = opened(events)
    assert len(incs) == 1
    inc = incs[0]
    assert inc.type == "street_vending" and inc.started_at == 0.0 and inc.confirmed_at == 30.0
    assert inc.class_name == "dining table+umbrella+person"
    # the cluster's box is the union of the items, not of the walking vendor
    assert inc.box == (380.0, 170.0, 520.0, 320.0)
    assert [e.kind for e in events] == ["opened", "ended"] and inc.ended_at == 49.5


def test_vendor_walking_about_the_stall_keeps_the_dwell():
    frames = []
    for k in range(100):
        dx = 60 * np.sin(k / 3)  # the vendor moves around; the stall stays
        frames.append(dets((1, "person", [400 + dx, 200, 440 + dx, 320], 0.8), (2, "umbrella", UMBRELLA, 0.6),
                           (3, "dining table", TABLE, 0.5)))
    assert len(opened(run_rule(rule(), frames))) == 1


def test_items_without_a_vendor_and_a_walker_with_an_umbrella_are_not_vending():
    assert opened(run_rule(rule(), [dets((2, "umbrella", UMBRELLA, 0.6), (3, "dining table", TABLE, 0.5))] * 100)) == []
    walker = [dets((1, "person", [250 + 8 * k, 200, 290 + 8 * k, 320], 0.8),
                   (2, "umbrella", [240 + 8 * k, 170, 300 + 8 * k, 200], 0.6)) for k in range(60)]
    assert opened(run_rule(rule(), walker)) == []


def test_person_far_from_the_items_does_not_make_a_cluster():
    far = dets((1, "person", [700, 200, 740, 320], 0.8), (3, "dining table", TABLE, 0.5))
    assert opened(run_rule(rule(), [far] * 100)) == []


def test_trained_vending_classes_by_configuration_alone():
    stall = dets((5, "stall", [300, 200, 420, 300], 0.7))
    assert opened(run_rule(rule(), [stall] * 100)) == []  # a COCO rule knows no stalls
    incs = opened(run_rule(rule(items=("stall", "cart", "parasol", "goods"), persons=()), [stall] * 100))
    assert len(incs) == 1 and incs[0].class_name == "stall"


def test_allowed_hours_night_market():
    start = datetime(2026, 5, 1, 22, 59, 30, tzinfo=timezone(timedelta(hours=8)))
    r = rule(hours=AllowedHours.parse(["18:00-23:00"]))
    events = run_rule(r, [vendor() for _ in range(160)],
                      contexts=lambda k, t: FrameContext(t, W, H, local_time=start + timedelta(seconds=t)))
    incs = opened(events)
    assert len(incs) == 1 and incs[0].started_at == 30.0 and incs[0].confirmed_at == 60.0
    inside = rule(hours=AllowedHours.parse(["18:00-23:00"]))
    evening = datetime(2026, 5, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))
    assert opened(run_rule(inside, [vendor()] * 160, contexts=lambda k, t: FrameContext(
        t, W, H, local_time=evening + timedelta(seconds=t)))) == []


def test_allowed_hours_cross_midnight():
    hours = AllowedHours.parse(["22:00-02:00"])
    assert hours.allows(datetime(2026, 1, 1, 23, 30)) and hours.allows(datetime(2026, 1, 1, 1, 59))
    assert not hours.allows(datetime(2026, 1, 1, 2, 0)) and not hours.allows(None)


def test_clusters_single_linkage():
    boxes = np.array([[0, 0, 10, 100], [12, 0, 20, 100], [200, 0, 210, 100]], dtype=float)
    assert sorted(map(sorted, clusters(boxes, 0.5))) == [[0, 1], [2]]
