"""Rules of the scenes built from the shared blocks (issue 15): moving vendors, drying, ads, muck trucks.

`build_scene_rule` turns one of these types' settings into its rule, or returns None for the other types
(streetsight/rules.py builds those):
- ``mobile_vending``: vendor clusters that stop repeatedly (detectors/mobile_vending.py) over a k-of-n core;
- ``street_drying``, ``illegal_advertising``: class-agnostic static objects of a given shape and colour
  (vision/static_shapes.py) plus the model's classes, over the dwell core (detectors/debris.py's rule);
- ``uncovered_muck_truck``: trucks whose bed crop a state classifier judges uncovered (detectors/muck_trucks.py),
  over a k-of-n core, so a truck driving through is found.
Every incident of these types then meets the camera's verifier (streetsight/verification.py) like any other.
"""
from __future__ import annotations

from detectors.debris import DebrisParams, DebrisRule
from detectors.geo import Merger
from detectors.mobile_vending import MobileVendingParams, MobileVendingRule
from detectors.muck_trucks import MuckTruckParams, MuckTruckRule
from detectors.rule import Core, Rule
from streetsight.config import ConfigError, SourceConfig
from streetsight.rule_settings import (MobileVendingConfig, RuleConfig, StaticSceneConfig,
                                       UncoveredMuckTruckConfig)
from vision.bin_state import BinStateClassifier
from vision.examples import ExampleBook
from vision.static_shapes import ShapedStaticObjects, ShapeFilter
from vision.zones import Zone


def build_scene_rule(src: SourceConfig, rc: RuleConfig, zones: list[Zone], core: Core, merger: Merger,
                     labels: dict, book: ExampleBook | None) -> Rule | None:
    from streetsight.rules import sighting_core, static_objects_of  # shared builders (rules.py imports this)

    event_type = core.event_type
    if isinstance(rc, MobileVendingConfig):
        return MobileVendingRule(sighting_core(event_type, src, rc, zones, None, merger, labels), MobileVendingParams(
            carrier_classes=tuple(rc.classes), person_classes=tuple(rc.person_classes), cluster_gap=rc.cluster_gap,
            min_score=rc.min_score, min_stops=rc.min_stops, min_stop_s=rc.min_stop_s, window_s=rc.window_s,
            min_dwell_s=rc.min_dwell_s, stationary_tolerance=rc.stationary_tolerance,
            motion_window_s=rc.motion_window_s))
    if isinstance(rc, StaticSceneConfig):
        found = static_objects_of(rc, zones, src)
        static = None if found is None else ShapedStaticObjects(found, ShapeFilter(
            min_aspect=rc.min_aspect, max_aspect=rc.max_aspect, min_fill=rc.min_fill, max_fill=rc.max_fill,
            min_saturation=rc.min_saturation))
        return DebrisRule(core, DebrisParams(classes=tuple(rc.classes), ignore_classes=tuple(rc.ignore_classes),
                                             min_score=rc.min_score), static)  # type: ignore[arg-type]
    if isinstance(rc, UncoveredMuckTruckConfig):
        classifier = None
        if rc.examples_dir:
            try:
                classifier = BinStateClassifier.from_folder(rc.examples_dir, states=("uncovered", "covered"))
            except ValueError as exc:
                raise ConfigError(f"sources[{src.id}]: rules.uncovered_muck_truck.examples_dir: {exc}") from None
        return MuckTruckRule(sighting_core(event_type, src, rc, zones, None, merger, labels), MuckTruckParams(
            classes=tuple(rc.classes), bed=rc.bed, min_score=rc.min_score, min_uncovered=rc.min_uncovered),
            classifier, book.camera(src.id) if book is not None else None)
    return None
