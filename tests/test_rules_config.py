"""All five rules from configuration: per-source and per-zone settings, taxonomy on every incident (and in
the record), enforcement sources, what the pipeline hands rules (image, local time, position)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from detectors.bins import BinRule
from detectors.debris import DebrisRule
from detectors.sighting import SightingRule
from streams.frames import Frame
from streetsight.config import ConfigError, load_config, parse_config
from streetsight.pipeline import SourceAnalysis, build_rules

FULL = [[0, 0], [1, 0], [1, 1], [0, 1]]


def config(kind="cctv", **extra):
    return parse_config({
        "sources": [{"id": "cam", "url": "x.mp4", "kind": kind, "zones": [
            {"id": "street", "events": ["illegal_parking", "non_motor_parking", "street_vending", "debris_spill"],
             "polygon": FULL},
            {"id": "lawn", "events": ["debris_spill"], "polygon": FULL,
             "rules": {"debris_spill": {"baseline": "surface", "min_dwell_s": 7}}},
        ], **extra}],
        "rules": {"illegal_parking": {"min_dwell_s": 30}},
        "taxonomy": {"street_vending": {"local_code": "HZ-0512"}},
    })


def test_every_type_gets_its_rule_with_settings_layered_global_source_zone():
    cfg = config(rules={"illegal_parking": {"min_dwell_s": 45}})
    rules = build_rules(cfg.sources[0], cfg)
    kinds = {(r.event_type, type(r).__name__, tuple(z.id for z in r.zones)) for r in rules}
    assert kinds == {("illegal_parking", "DwellRule", ("street",)), ("non_motor_parking", "DwellRule", ("street",)),
                     ("street_vending", "VendingRule", ("street",)), ("debris_spill", "DebrisRule", ("street",)),
                     ("debris_spill", "DebrisRule", ("lawn",))}
    parking = next(r for r in rules if r.event_type == "illegal_parking")
    assert parking.params.min_dwell_s == 45 and parking.params.classes == ("car", "truck", "bus")
    lawn = next(r for r in rules if r.event_type == "debris_spill" and r.zones[0].id == "lawn")
    street = next(r for r in rules if r.event_type == "debris_spill" and r.zones[0].id == "street")
    assert lawn.static.params.baseline == "surface" and lawn.core.params.min_dwell_s == 7
    assert street.static.params.baseline == "scene" and street.core.params.min_dwell_s == 120
    assert all(r.needs_image for r in (lawn, street)) and not parking.needs_image


def test_a_disabled_rule_is_not_built():
    cfg = config(rules={"street_vending": {"enabled": False}})
    assert "street_vending" not in {r.event_type for r in build_rules(cfg.sources[0], cfg)}


def test_enforcement_sources_judge_by_sightings_and_have_no_background_model():
    cfg = config(kind="enforcement")
    rules = build_rules(cfg.sources[0], cfg)
    assert all(isinstance(getattr(r, "core", r), SightingRule) for r in rules)
    assert all(r.static is None for r in rules if isinstance(r, DebrisRule))


def test_taxonomy_labels_on_incidents_default_and_overridden():
    cfg = config()
    rules = {r.event_type: r for r in build_rules(cfg.sources[0], cfg)}
    vending = rules["street_vending"].core.labels
    assert vending == {"category": "05", "category_zh": "街面秩序", "category_en": "street order",
                       "local_code": "HZ-0512", "zh": "占道经营", "en": "street vending"}
    assert rules["debris_spill"].core.labels["category"] == "01"
    assert rules["illegal_parking"].labels["zh"] == "机动车乱停放"


def test_incident_labels_reach_the_record(tmp_path):
    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from api.db import IncidentRecord, create_engine_for, init_db
    from api.repository import IncidentRepository
    from evidence.store import LocalEvidenceStore
    from streetsight.recorder import IncidentRecorder
    from tests.rule_helpers import dets

    cfg = parse_config({"sources": [{"id": "cam", "url": "x.mp4", "zones": [
        {"id": "kerb", "events": ["illegal_parking"], "polygon": FULL}]}],
        "rules": {"illegal_parking": {"min_dwell_s": 2}}})
    engine = create_engine_for(f"sqlite:///{tmp_path / 'db.sqlite'}")
    init_db(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    recorder = IncidentRecorder(LocalEvidenceStore(tmp_path / "ev"), IncidentRepository(sessions), cfg.evidence)
    analysis = SourceAnalysis.create(cfg.sources[0], cfg)
    image = np.zeros((100, 200, 3), np.uint8)
    for k in range(10):
        analysis.handle(Frame("cam", image, k / 2, k), dets((1, "car", [50, 20, 120, 80], 0.9)), recorder)
    analysis.finish(recorder)
    with sessions() as s:
        rows = s.scalars(select(IncidentRecord)).all()
    assert len(rows) == 1 and rows[0].labels["zh"] == "机动车乱停放" and rows[0].labels["category"] == "05"


def test_frame_context_image_local_time_and_position():
    start = datetime(2026, 5, 1, 22, 0, tzinfo=timezone(timedelta(hours=8)))
    cfg = config(media_start=start.isoformat())
    analysis = SourceAnalysis.create(cfg.sources[0], cfg)
    image = np.zeros((10, 20, 3), np.uint8)
    frame = Frame("cam", image, 90.0, 3, wall_time=0.0, extras={"position": {"lng": 120.1, "lat": 30.2,
                                                                             "timestamp": 5.0}})
    ctx = analysis.frame_context(frame)
    assert ctx.image is image and ctx.width == 20 and ctx.height == 10
    assert (ctx.local_time.hour, ctx.local_time.minute, ctx.local_time.second) == (22, 1, 30)
    assert ctx.position == {"lng": 120.1, "lat": 30.2, "timestamp": 5.0}
    live = SourceAnalysis.create(config().sources[0], config())
    wall = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc).timestamp()
    assert live.frame_context(Frame("cam", image, 1.0, 0, wall_time=wall)).local_time.hour == 20  # Shanghai


@pytest.mark.parametrize("patch, field, problem", [
    ({"rules": {"street_vending": {"allowed_hours": ["18:00-24:00"]}}}, "rules.street_vending.allowed_hours",
     "HH:MM-HH:MM"),
    ({"rules": {"illegal_parking": {"confirm_hits": 6}}}, "rules.illegal_parking", "cannot exceed"),
    ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
    ({"sources": [{"id": "c", "url": "x", "zones": [{"id": "z", "events": ["debris_spill"], "polygon": FULL,
                   "rules": {"debris_spill": {"baseline": "sky"}}}]}]},
     "sources[0].zones[0].rules.debris_spill.baseline", "scene"),
])
def test_bad_rule_settings_name_the_field(patch, field, problem):
    with pytest.raises(ConfigError) as exc:
        parse_config(patch)
    assert field in str(exc.value) and problem in str(exc.value)


def test_missing_bin_examples_is_a_config_error_naming_the_field(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "sources:\n  - id: cam\n    url: x.mp4\n    zones:\n      - id: bin\n        events: [overflowing_bin]\n"
        "        polygon: [[0.1, 0.1], [0.2, 0.1], [0.2, 0.3]]\n"
        "rules:\n  overflowing_bin: {examples_dir: nowhere}\n", encoding="utf-8")
    cfg = load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="overflowing_bin.examples_dir: .*nowhere"):
        build_rules(cfg.sources[0], cfg)
    assert isinstance(build_rules(cfg.sources[0], cfg.model_copy(update={"rules": parse_config({}).rules}))[0],
                      BinRule)


def test_every_event_type_a_zone_may_name_has_settings_labels_and_a_rule_of_its_own():
    from streetsight import event_types
    from streetsight.config import RulesConfig, TaxonomyConfig

    assert set(RulesConfig.model_fields) == set(TaxonomyConfig.model_fields) == set(event_types.names())
    for event_type in event_types.names():
        cfg = parse_config({"sources": [{"id": "cam", "url": "x.mp4", "zones": [
            {"id": "z", "events": [event_type], "polygon": FULL}]}]})
        rules = build_rules(cfg.sources[0], cfg)
        assert [r.event_type for r in rules] == [event_type]
        assert getattr(rules[0], "core", rules[0]).labels == cfg.taxonomy.for_type(event_type).model_dump()
    with pytest.raises(ConfigError, match=r"sources\[0\]\.zones\[0\]\.events: unknown event type.*'litter'"):
        parse_config({"sources": [{"id": "cam", "url": "x.mp4", "zones": [
            {"id": "z", "events": ["litter"], "polygon": FULL}]}]})


def test_live_recorder_forgets_incidents_once_their_evidence_is_out(tmp_path):
    """A worker runs for months: with keep_recorded=False nothing stays behind after the manifest."""
    from evidence.store import LocalEvidenceStore
    from streams.packets import PacketRing
    from streetsight.recorder import IncidentRecorder
    from tests.rule_helpers import dets

    cfg = parse_config({"sources": [{"id": "cam", "url": "x.mp4", "zones": [
        {"id": "kerb", "events": ["illegal_parking"], "polygon": FULL}]}],
        "rules": {"illegal_parking": {"min_dwell_s": 2}}})
    image = np.zeros((100, 200, 3), np.uint8)
    kept = {}
    for keep in (True, False):
        recorder = IncidentRecorder(LocalEvidenceStore(tmp_path / f"ev-{keep}"), None, cfg.evidence,
                                    keep_recorded=keep)
        analysis = SourceAnalysis.create(cfg.sources[0], cfg)
        analysis.ring = PacketRing(30, 1 << 20)  # empty: the clip is skipped, the manifest still written
        for k in range(10):
            analysis.handle(Frame("cam", image, k / 2, k), dets((1, "car", [50, 20, 120, 80], 0.9)), recorder)
        analysis.finish(recorder)
        assert any((tmp_path / f"ev-{keep}").rglob("manifest.json"))
        kept[keep] = len(recorder.recorded)
    assert kept == {True: 1, False: 0}


def test_every_static_object_type_shares_one_settings_base_and_one_detector_builder():
    """Debris, piles, bags, shop-front goods and the scenes (drying, ads) are one settings family: the scenes
    add colour and fill to it, and the configured baseline reaches their detector (it was fixed to `scene`)."""
    from streetsight import event_types
    from streetsight.rule_settings import StaticObjectsConfig, StaticSceneConfig
    from vision.static_shapes import ShapedStaticObjects

    static_types = {t.name for t in event_types.all_types() if issubclass(t.settings, StaticObjectsConfig)}
    assert {"debris_spill", "material_piling", "bagged_garbage", "outside_shop_business", "street_drying",
            "illegal_advertising"} <= static_types
    assert issubclass(StaticSceneConfig, StaticObjectsConfig)
    cfg = parse_config({"sources": [{"id": "cam", "url": "x.mp4", "zones": [
        {"id": "rail", "events": ["street_drying", "debris_spill"], "polygon": FULL,
         "rules": {"street_drying": {"baseline": "surface", "min_area": 0.003},
                   "debris_spill": {"baseline": "surface"}}}]}]})
    rules = {r.event_type: r for r in build_rules(cfg.sources[0], cfg)}
    drying, debris = rules["street_drying"].static, rules["debris_spill"].static
    assert isinstance(drying, ShapedStaticObjects) and drying.shape.min_saturation == 60.0
    assert drying.detector.params.baseline == "surface" and drying.detector.params.min_area == 0.003
    assert debris.params.baseline == "surface"
