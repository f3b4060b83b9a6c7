"""Licence plates: normalisation to the Chinese formats, reads of rendered plates with the shipped PP-OCRv4
models, uncertain reads kept and flagged; the timed-snapshot plan of dwell rules."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets.plates import NoCjkFont, PlateSpec, cjk_font_path, plate_on_vehicle, vtest_vehicle
from detectors.dwell import DwellParams, DwellRule
from detectors.context import FrameContext
from detectors.timed_shots import ShotPlan
from tests.real_parts import missing_real_part
from tests.rule_helpers import H, W, dets
from vision.plates import PlateReader, normalise_plate
from vision.zones import Zone

VTEST_FRAME = Path(__file__).parent / "data" / "vtest_frame100.jpg"


@pytest.mark.parametrize("raw, plate", [
    ("京A·12345", "京A12345"),  # the dot between office letter and number goes
    ("粤b 3c4d5", "粤B3C4D5"),  # lower case, spaces
    ("沪AD12345", "沪AD12345"),  # new energy: 6 characters after the letter
    ("苏E-O1I23", "苏E01123"),  # O and I are not used after the province: they are 0 and 1
    ("4S店 鄂A·8B8C8", "鄂A8B8C8"),  # text read around the plate
])
def test_reads_normalise_to_plate_formats(raw: str, plate: str) -> None:
    assert normalise_plate(raw) == (plate, True)


@pytest.mark.parametrize("raw", ["A12345", "京12345", "京A1234", "京A12345678", "hello", ""])
def test_text_that_is_no_plate_is_kept_but_not_valid(raw: str) -> None:
    text, valid = normalise_plate(raw)
    assert not valid and text == raw.upper()


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    try:
        cjk_font_path()
    except NoCjkFont as exc:
        missing_real_part(str(exc))
    return PlateReader()


@pytest.mark.parametrize("spec", [PlateSpec("鄂A5B2C8", "blue"), PlateSpec("京AD36K71", "green")])
def test_rendered_plate_of_40_px_is_read_exactly(reader: PlateReader, spec: PlateSpec) -> None:
    image = plate_on_vehicle(spec, 40, vtest_vehicle(VTEST_FRAME), np.random.default_rng(3))
    read = reader.read(image)
    assert read is not None and read.plate == spec.text
    assert read.valid and not read.uncertain and read.confidence >= 0.8


def test_low_confidence_and_unformatted_reads_are_kept_and_flagged(reader: PlateReader) -> None:
    rng = np.random.default_rng(4)
    van = vtest_vehicle(VTEST_FRAME)
    strict = PlateReader(reader.ocr, min_confidence=0.9999)  # the same models, a threshold no read reaches
    read = strict.read(plate_on_vehicle(PlateSpec("浙C7H2K9", "blue"), 40, van, rng))
    assert read is not None and read.plate == "浙C7H2K9" and read.valid and read.uncertain
    assert read.as_dict()["plate_uncertain"] is True
    # a sign without a province reads as text that fits no plate format: kept, uncertain
    read = reader.read(plate_on_vehicle(PlateSpec("AB1234", "blue"), 40, van, rng))
    assert read is not None and read.plate == "AB1234" and not read.valid and read.uncertain


def test_nothing_plate_shaped_gives_no_read(reader: PlateReader) -> None:
    assert reader.read(np.full((200, 300, 3), 128, np.uint8)) is None


# -- timed snapshots --------------------------------------------------------------------------------

def test_shot_plan_spreads_pictures_over_the_dwell_or_every_n_seconds() -> None:
    even = ShotPlan(count=3)
    assert [even.due(k, 10.0, 60.0) for k in range(3)] == [10.0, 40.0, None]  # the last one is confirmation's
    four = ShotPlan(count=4)
    assert [four.due(k, 0.0, 60.0) for k in range(4)] == [0.0, 20.0, 40.0, None]
    fixed = ShotPlan(count=5, every_s=25.0)
    assert [fixed.due(k, 0.0, 60.0) for k in range(5)] == [0.0, 25.0, 50.0, None, None]  # none past the dwell


def _frames_with_image(n: int, box: list[float], fps: float = 2.0):
    for k in range(n):
        image = np.full((H, W, 3), k % 250, np.uint8)  # each frame distinct, so the pictures can be told apart
        yield FrameContext(k / fps, W, H, image=image), dets((1, "car", box, 0.9))


def test_dwell_rule_hands_over_pictures_at_first_sighting_mid_dwell_and_confirmation() -> None:
    zone = Zone.from_points("kerb", ["illegal_parking"], [[0, 0], [1, 0], [1, 1], [0, 1]])
    rule = DwellRule("illegal_parking", "cam", [zone], DwellParams(classes=("car",), min_dwell_s=10.0),
                     shots=ShotPlan(count=3, max_width=200))
    events = []
    for ctx, d in _frames_with_image(30, [100, 100, 300, 200]):
        events += rule.observe(ctx, d)
    [opened] = [e for e in events if e.kind == "opened"]
    assert [s.at for s in opened.shots] == [0.0, 5.0, 10.0] == [0.0, 5.0, opened.incident.confirmed_at]
    import cv2

    first, mid, last = (cv2.imdecode(np.frombuffer(s.jpeg, np.uint8), cv2.IMREAD_COLOR) for s in opened.shots)
    assert first.shape == (100, 200, 3)  # scaled to max_width
    assert abs(int(first.mean()) - 0) <= 2 and abs(int(mid.mean()) - 10) <= 2 and abs(int(last.mean()) - 20) <= 2
    assert all(s.box == (100.0, 100.0, 300.0, 200.0) and s.frame_size == (W, H) for s in opened.shots)


def test_a_car_that_moves_starts_its_pictures_again() -> None:
    zone = Zone.from_points("kerb", ["illegal_parking"], [[0, 0], [1, 0], [1, 1], [0, 1]])
    rule = DwellRule("illegal_parking", "cam", [zone], DwellParams(classes=("car",), min_dwell_s=10.0),
                     shots=ShotPlan(count=3))
    events = []
    frames = list(_frames_with_image(50, [100, 100, 300, 200]))
    for k, (ctx, d) in enumerate(frames):
        if k >= 10:  # at 5 s it moves to another place and parks there
            d = dets((1, "car", [600, 100, 800, 200], 0.9))
        events += rule.observe(ctx, d)
    [opened] = [e for e in events if e.kind == "opened"]
    assert opened.incident.started_at == 5.0
    assert [s.at for s in opened.shots] == [5.0, 10.0, 15.0]
    assert all(s.box == (600.0, 100.0, 800.0, 200.0) for s in opened.shots)


def test_without_a_plan_no_pictures_are_kept() -> None:
    zone = Zone.from_points("kerb", ["illegal_parking"], [[0, 0], [1, 0], [1, 1], [0, 1]])
    rule = DwellRule("illegal_parking", "cam", [zone], DwellParams(classes=("car",), min_dwell_s=10.0))
    events = []
    for ctx, d in _frames_with_image(30, [100, 100, 300, 200]):
        events += rule.observe(ctx, d)
    assert [e.shots for e in events if e.kind == "opened"] == [[]]


# -- configuration -----------------------------------------------------------------------------------

@pytest.mark.parametrize("evidence, field, problem", [
    ({"snapshots": {"count": 1}}, "evidence.snapshots.count", "greater than or equal to 2"),
    ({"snapshots": {"every_s": 0}}, "evidence.snapshots.every_s", "greater than 0"),
    ({"vehicle": {"plate_min_confidence": 1.5}}, "evidence.vehicle.plate_min_confidence", "less than or equal"),
    ({"vehicle": {"plates": "maybe"}}, "evidence.vehicle.plates", "boolean"),
])
def test_bad_evidence_settings_name_the_field(evidence: dict, field: str, problem: str) -> None:
    from streetsight.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as exc:
        parse_config({"evidence": evidence})
    assert f": {field}: " in str(exc.value) and problem in str(exc.value), str(exc.value)


def test_configured_plan_reaches_every_dwell_rule_and_can_be_turned_off() -> None:
    from streetsight.config import parse_config
    from streetsight.rules import build_rules

    zones = [{"id": "kerb", "events": ["illegal_parking", "street_vending"], "polygon": [[0, 0], [1, 0], [1, 1]]}]
    cfg = parse_config({"sources": [{"id": "cam", "url": "x.mp4", "zones": zones}],
                        "evidence": {"snapshots": {"count": 4, "every_s": 20}}})
    cores = [getattr(r, "core", r) for r in build_rules(cfg.sources[0], cfg)]
    assert {c.event_type for c in cores} == {"illegal_parking", "street_vending"}
    assert all(c.shots == ShotPlan(count=4, every_s=20.0) for c in cores)
    off = parse_config({"sources": [{"id": "cam", "url": "x.mp4", "zones": zones}],
                        "evidence": {"snapshots": {"enabled": False}}})
    assert all(getattr(r, "core", r).shots is None for r in build_rules(off.sources[0], off))


def test_a_car_driving_through_costs_no_picture() -> None:
    zone = Zone.from_points("kerb", ["illegal_parking"], [[0, 0], [1, 0], [1, 1], [0, 1]])
    rule = DwellRule("illegal_parking", "cam", [zone], DwellParams(classes=("car",), min_dwell_s=10.0),
                     shots=ShotPlan(count=3))
    for k, (ctx, _) in enumerate(_frames_with_image(20, [0, 0, 1, 1])):
        x = 100.0 * k  # drives along the kerb: moves more than the tolerance (0.35 of the diagonal) per frame
        assert rule.observe(ctx, dets((1, "car", [x, 100, x + 200, 200], 0.9))) == []
    assert rule._encoder._last is None  # nothing was encoded
    track = next(iter(rule._tracks.values()))
    assert track.shots.taken == [] and track.shots.held is not None  # only the latest frame is held
