"""Issue 14 item 5: a vending spot (stall present / absent) judged as a region state, taught by a reviewer's
examples like a bin region, with the real COCO detector on a rendered scene (tests/scenarios/vending_spot.py).

Without examples the vending rule judges the detector's item clusters, and on this scene it makes both mistakes
the issue names: NanoDet sees the vendor but not the stall (a miss), and calls the delivery tricycle a chair and a
dining table beside its rider (a stall that is none). Once the camera has examples of both states, the state
classifier they train judges the spot instead: the stall is reported, the tricycle and the empty spot are not.
The examples go through the same path as the API's (embedding of the box, stored as float16, `ExampleBook`), and
the rule is built from a configuration by `build_rules`, as `serve` builds it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from api.embeddings import decode_vector, encode_vector_bytes
from detectors.context import FrameContext
from detectors.incidents import Incident
from detectors.vending import STALL_CLASS, VendingRule
from models.detector import OnnxDetector
from streetsight.config import parse_config
from streetsight.rules import build_rules, use_examples
from tests.rule_helpers import dets
from tests.scenarios.fixtures import vtest_mp4  # noqa: F401 (fixture)
from tests.scenarios.vending_spot import SIZE, SPOT_POLYGON, SPOT_PX, Kind, spot_frame, spot_scene
from vision.detection import FrameDetector
from vision.embedding import object_crop, shared_embedder
from vision.examples import ExampleBook, Label, TaughtExample

pytestmark = pytest.mark.samples
FPS = 2
SECONDS = 30.0
APPEARS_S = 3.0
DWELL_S = 10.0
CONFIG = {
    "sources": [{"id": "spot-cam", "url": "spot.mp4", "zones": [
        {"id": "spot", "events": ["street_vending"], "polygon": SPOT_POLYGON}]}],
    "rules": {"street_vending": {"min_dwell_s": DWELL_S, "leave_after_s": 5}},
}


@pytest.fixture(scope="module")
def detector() -> FrameDetector:
    return FrameDetector(OnnxDetector.from_registry("nanodet-coco", min_score=0.25))


def run_day(cfg, vtest: str, detector: FrameDetector, kind: Kind, day: int,
            light: float) -> tuple[list[Incident], VendingRule]:
    """One day of the camera: ``kind`` on the spot from APPEARS_S on; a rule built afresh (as after a restart)."""
    [rule] = build_rules(cfg.sources[0], cfg)
    assert isinstance(rule, VendingRule)
    scene = spot_scene(vtest, kind, seed=100 + day, light=light, t0=APPEARS_S)
    events = []
    for k in range(int(SECONDS * FPS)):
        t = k / FPS
        image = scene.draw(k, t)
        events += rule.observe(FrameContext(t, SIZE[0], SIZE[1], image=image), detector.detect([image])[0])
    events += rule.finish()
    return [e.incident for e in events if e.kind == "opened"], rule


def example(vtest: str, kind: Kind, label: Label, seed: int, light: float) -> TaughtExample:
    """A reviewer's box around the spot on one snapshot, kept as the API keeps it (float16 embedding)."""
    crop = object_crop(spot_frame(vtest, kind, seed, light), SPOT_PX)
    vector = decode_vector(encode_vector_bytes(shared_embedder().embed([crop])[0]))
    return TaughtExample(id=f"ex-{kind}", event_type="street_vending", label=label, crop=vector,
                         box=(SPOT_PX[0] / SIZE[0], SPOT_PX[1] / SIZE[1], SPOT_PX[2] / SIZE[0], SPOT_PX[3] / SIZE[1]))


def test_a_vending_spot_taught_present_and_absent_is_judged_by_its_state(vtest_mp4: Path,
                                                                         detector: FrameDetector) -> None:
    vtest = str(vtest_mp4)
    cfg = parse_config(CONFIG)
    book = ExampleBook()
    use_examples(cfg, book)

    # untaught: the item clusters of the COCO model miss the stall and take the tricycle for one
    missed, rule = run_day(cfg, vtest, detector, "stall", day=1, light=1.0)
    assert missed == [] and rule.last_probabilities == {}
    [wrong], _ = run_day(cfg, vtest, detector, "tricycle", day=2, light=1.0)
    assert "chair" in wrong.class_name or "table" in wrong.class_name

    # the reviewer marks the spot on three snapshots: stall present, empty, and the tricycle as "absent"
    camera = book.camera("spot-cam")
    camera.add(example(vtest, "stall", "positive", seed=1, light=1.0))
    camera.add(example(vtest, "empty", "negative", seed=2, light=1.0))
    assert camera.state_classifier("street_vending") is not None  # both states: trained at once
    camera.add(example(vtest, "tricycle", "negative", seed=3, light=1.0))

    # later days, other noise and light: the stall once, after its dwell, as the spot; nothing else
    [stall], rule = run_day(cfg, vtest, detector, "stall", day=3, light=0.85)
    assert stall.class_name == STALL_CLASS and stall.zone_id == "spot"
    assert stall.confirmed_at - stall.started_at >= DWELL_S and APPEARS_S <= stall.started_at < APPEARS_S + 1
    assert np.allclose(stall.box[:3], SPOT_PX[:3], atol=1) and SPOT_PX[1] < stall.box[3] <= SPOT_PX[3]
    assert rule.last_probabilities["spot"] >= 0.6
    for kind, day, light in (("tricycle", 4, 1.15), ("empty", 5, 0.8)):
        found, rule = run_day(cfg, vtest, detector, kind, day=day, light=light)
        assert found == [], (kind, [(i.class_name, i.box) for i in found])
        assert rule.last_probabilities["spot"] < 0.5, kind  # judged, and judged absent

    # forgetting the "absent" examples leaves one state: the spot goes back to the item clusters at once
    camera.remove("ex-empty")
    camera.remove("ex-tricycle")
    assert camera.state_classifier("street_vending") is None
    [again], rule = run_day(cfg, vtest, detector, "tricycle", day=6, light=1.0)
    assert again.class_name != STALL_CLASS and rule.last_probabilities == {}


def test_frames_where_a_vehicle_covers_the_spot_are_not_judged(vtest_mp4: Path) -> None:
    vtest = str(vtest_mp4)
    cfg = parse_config(CONFIG)
    book = ExampleBook()
    use_examples(cfg, book)
    book.add("spot-cam", example(vtest, "stall", "positive", seed=1, light=1.0))
    book.add("spot-cam", example(vtest, "empty", "negative", seed=2, light=1.0))
    [rule] = build_rules(cfg.sources[0], cfg)
    image = spot_frame(vtest, "stall", seed=7)
    x1, y1, x2, y2 = SPOT_PX
    bus = dets((1, "bus", [x1 - 20, y1 + 10, x2 + 20, y2], 0.7))
    rule.observe(FrameContext(0.0, SIZE[0], SIZE[1], image=image), bus)
    assert rule.last_probabilities == {}
    person = dets((2, "person", [x1 + 10, y1, x1 + 60, y2], 0.8))  # the vendor stands in it: still judged
    rule.observe(FrameContext(0.5, SIZE[0], SIZE[1], image=image), person)
    assert rule.last_probabilities["spot"] >= 0.6
    empty_dets = sv.Detections.empty()
    rule.observe(FrameContext(1.0, SIZE[0], SIZE[1], image=spot_frame(vtest, "empty", seed=8)), empty_dets)
    assert rule.last_probabilities["spot"] < 0.5
