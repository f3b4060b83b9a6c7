"""From configuration to rule objects: one rule per event type and per distinct setting of its zones.

Settings apply in order: ``rules:`` (global), then the source's ``rules:``, then the zone's ``rules:``; a
zone with settings of its own gets a rule of its own. Fixed cameras judge by dwell, ``enforcement``
(moving) sources by k-of-n sightings merged across devices by a shared `GeoMerger`.

When the wiring has registered an `ExampleBook` for the configuration (`use_examples`), fixed cameras' class
rules (parking) are taught by example (`TaughtRule`), and bin regions and vending spots take the state
classifier of the camera's examples of their type; each rule holds its camera's classifier, which changes in
place as examples are added.
"""
from __future__ import annotations

import logging
import threading
import weakref

from detectors.bins import BinParams, BinRule
from detectors.debris import DebrisParams, DebrisRule
from detectors.dwell import DwellParams, DwellRule
from detectors.geo import GeoMerger, Merger
from detectors.rule import Core, Rule
from detectors.schedule import AllowedHours
from detectors.sized import SizedClassRule, SizedParams
from detectors.sighting import SightingParams, SightingRule
from detectors.timed_shots import ShotPlan
from detectors.taught import TaughtParams, TaughtRule
from detectors.vending import VendingParams, VendingRule
from streetsight import event_types
from streetsight.config import Config, ConfigError, SourceConfig
from streetsight.scene_rules import build_scene_rule
from streetsight.rule_settings import (DebrisSpillConfig, IllegalUmbrellaConfig, OutsideShopBusinessConfig,
                                       OverflowingBinConfig, RuleConfig, StaticObjectsConfig, StreetVendingConfig)
from vision.bin_state import BinStateClassifier
from vision.embedding import shared_embedder
from vision.examples import ExampleBook
from vision.static_objects import StaticObjectDetector, StaticObjectParams
from vision.zones import Zone

log = logging.getLogger(__name__)

_mergers: dict[int, GeoMerger] = {}
_mergers_lock = threading.Lock()
_books: dict[int, ExampleBook] = {}
TAUGHT_TYPES = ("illegal_parking", "non_motor_parking")  # dwell rules over model classes


def shared_merger(cfg: Config) -> GeoMerger:
    """One merger per loaded configuration, so every enforcement source of a process shares it."""
    with _mergers_lock:
        key = id(cfg)
        if key not in _mergers:
            _mergers[key] = GeoMerger()
            weakref.finalize(cfg, _mergers.pop, key, None)
        return _mergers[key]


def use_examples(cfg: Config, book: ExampleBook) -> None:
    """Rules built for ``cfg`` from now on learn from ``book``'s examples of their camera."""
    with _mergers_lock:
        key = id(cfg)
        if key not in _books:
            weakref.finalize(cfg, _books.pop, key, None)
        _books[key] = book


def examples_for(cfg: Config) -> ExampleBook | None:
    with _mergers_lock:
        return _books.get(id(cfg))


def build_rules(src: SourceConfig, cfg: Config, merger: Merger | None = None) -> list[Rule]:
    source_rules = cfg.rules.overridden_by(src.rules)
    rules: list[Rule] = []
    for event_type in event_types.names():
        zone_cfgs = [z for z in src.zones if event_type in z.events]
        if not zone_cfgs:
            continue
        # Zones without settings of their own share one rule; each zone with its own settings gets one.
        groups: list[tuple[RuleConfig, list[Zone]]] = []
        shared = [z for z in zone_cfgs if z.rules is None or event_type not in z.rules.model_fields_set]
        if shared:
            groups.append((source_rules.for_type(event_type),
                           [Zone.from_points(z.id, z.events, z.polygon) for z in shared]))
        for z in zone_cfgs:
            if z not in shared:
                groups.append((source_rules.overridden_by(z.rules).for_type(event_type),
                               [Zone.from_points(z.id, z.events, z.polygon)]))
        mapped = [cls for cls, to in src.class_map.items() if to == event_type]
        for rule_cfg, zones in groups:
            if mapped and hasattr(rule_cfg, "classes"):  # the camera's model names this type's objects its own way
                rule_cfg = rule_cfg.model_copy(update={"classes": [*rule_cfg.classes, *mapped]})
            if rule_cfg.enabled:
                rule = _build(event_type, src, cfg, rule_cfg, zones, merger)
                _name_shops(rule, event_type, zone_cfgs)
                rules.append(rule)
    return rules


def _name_shops(rule: Rule, event_type: str, zone_cfgs: list) -> None:
    """Shop-front incidents of a zone that names its shop (门前三包) carry it: ``extra.shop``."""
    if event_type not in event_types.SHOP_FRONT_TYPES or not hasattr(rule, "zone_extra"):
        return
    for z in zone_cfgs:
        if z.shop:
            rule.zone_extra[z.id] = {"shop": {"name": z.shop, "source": "zone", "confidence": 1.0}}


def shot_plan(cfg: Config) -> ShotPlan | None:
    """Timed snapshots of every dwell rule (evidence.snapshots), or None when turned off."""
    sc = cfg.evidence.snapshots
    return ShotPlan(sc.count, sc.every_s, sc.max_width, sc.quality) if sc.enabled else None


def static_objects_of(rc: StaticObjectsConfig, zones: list[Zone], src: SourceConfig) -> StaticObjectDetector | None:
    """The class-agnostic static objects of a static-object type's zones; None when turned off or on a moving
    (``enforcement``) camera: background models need a camera that stands still."""
    if not rc.static_objects or src.kind == "enforcement":
        return None
    return StaticObjectDetector([z.polygon for z in zones], StaticObjectParams(
        baseline=rc.baseline, min_area=rc.min_area, max_area=rc.max_area, static_after_s=rc.static_after_s,
        long_term_s=rc.long_term_s, fps=src.analysis_fps))


def sighting_core(event_type: str, src: SourceConfig, rc: RuleConfig, zones: list[Zone],
                  classes: tuple[str, ...] | None, merger: Merger, labels: dict) -> SightingRule:
    """The k-of-n core: moving cameras' rules, and rules that judge objects as they pass (any camera)."""
    return SightingRule(event_type, src.id, zones, SightingParams(
        classes=classes, min_score=rc.min_score, min_median_score=rc.min_median_score,
        confirm_hits=rc.confirm_hits, confirm_frames=rc.confirm_frames, leave_after_s=rc.leave_after_s,
        merge_radius_m=rc.merge_radius_m, merge_window_s=rc.merge_window_s), merger=merger, labels=labels)


def _allowed_hours(rc: RuleConfig) -> AllowedHours:
    """When the rule sleeps: its permitted hours, and for shop fronts the hours the shops are closed."""
    allowed = AllowedHours.parse(rc.allowed_hours)
    if isinstance(rc, OutsideShopBusinessConfig) and rc.opening_hours:
        allowed = allowed.union(AllowedHours.parse(rc.opening_hours).complement())
    return allowed


def _build(event_type: str, src: SourceConfig, cfg: Config, rc: RuleConfig, zones: list[Zone],
           merger: Merger | None) -> Rule:
    labels = cfg.taxonomy.for_type(event_type).model_dump()
    moving = src.kind == "enforcement"
    book = None if moving else examples_for(cfg)
    taught = book is not None and event_type in TAUGHT_TYPES
    own_candidates = taught or event_types.get(event_type).own_candidates
    classes = None if own_candidates else tuple(rc.classes)
    core: Core
    if moving:
        core = sighting_core(event_type, src, rc, zones, classes, merger or shared_merger(cfg), labels)
    else:
        core = DwellRule(event_type, src.id, zones, DwellParams(
            classes=classes, min_score=rc.min_score, min_dwell_s=rc.min_dwell_s,
            stationary_tolerance=rc.stationary_tolerance, motion_window_s=rc.motion_window_s,
            max_gap_s=rc.max_gap_s, leave_after_s=rc.leave_after_s, cooldown_s=rc.cooldown_s,
            min_median_score=rc.min_median_score, allowed_hours=_allowed_hours(rc)),
            labels=labels, shots=shot_plan(cfg))
    scene = build_scene_rule(src, rc, zones, core, merger or shared_merger(cfg), labels, book)
    if scene is not None:  # the scenes of streetsight/scene_rules.py
        return scene
    if taught and isinstance(core, DwellRule):
        static = None
        if rc.static_candidates:  # any size: the examples' sizes bound the candidates
            static = StaticObjectDetector([z.polygon for z in zones], StaticObjectParams(
                baseline="scene", max_area=1.0, fps=1.0 / TaughtParams.static_every_s))
        return TaughtRule(core, TaughtParams(classes=tuple(rc.classes), min_score=rc.min_score,
                                             candidate_min_score=rc.candidate_min_score),
                          book.camera(src.id), lambda crops: shared_embedder().embed(crops),  # type: ignore[union-attr]
                          static)
    if isinstance(rc, StreetVendingConfig):
        return VendingRule(core, VendingParams(
            item_classes=tuple(rc.classes), person_classes=tuple(rc.person_classes), min_items=rc.min_items,
            cluster_gap=rc.cluster_gap, min_score=rc.min_score, state_min_probability=rc.state_min_probability,
            occluder_classes=tuple(rc.occluder_classes)), book.camera(src.id) if book is not None else None)
    if isinstance(rc, IllegalUmbrellaConfig):
        return SizedClassRule(core, SizedParams(classes=tuple(rc.classes), min_score=rc.min_score,
                                                min_area=rc.min_area))
    # debris, piled material, bagged garbage, shop-front goods (the scenes' StaticSceneConfig returned above)
    if isinstance(rc, StaticObjectsConfig):
        return DebrisRule(core, DebrisParams(classes=tuple(rc.classes), ignore_classes=tuple(rc.ignore_classes),
                                             min_score=rc.min_score, aspect=(rc.min_aspect, rc.max_aspect),
                                             mask_untracked=not isinstance(rc, DebrisSpillConfig)),
                          static_objects_of(rc, zones, src))
    if isinstance(rc, OverflowingBinConfig):
        classifiers = {}
        if rc.examples_dir and not moving:
            try:
                clf = BinStateClassifier.from_folder(rc.examples_dir)
            except ValueError as exc:
                raise ConfigError(f"sources[{src.id}]: rules.overflowing_bin.examples_dir: {exc}") from None
            classifiers = {z.id: clf for z in zones}
        elif not moving and book is None:
            log.warning("source %s: bin zones %s have no examples_dir; only the model's classes %s can judge them",
                        src.id, [z.id for z in zones], rc.classes)
        return BinRule(core, BinParams(classes=tuple(rc.classes), occluder_classes=tuple(rc.occluder_classes),
                                       min_score=rc.min_score), classifiers,
                       book.camera(src.id) if book is not None else None)
    return core
