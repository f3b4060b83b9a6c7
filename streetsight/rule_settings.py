"""Settings models of the rules: what every rule shares (``RuleConfig``) and each event type's own
settings with its default detector classes. The event-type registry (streetsight/event_types.py) names
which model each type uses; the ``rules:`` section of the configuration is built from it."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    """A configuration section: unknown keys are errors (a misspelt key never passes silently)."""

    model_config = ConfigDict(extra="forbid")


_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def check_windows(v: list[str]) -> list[str]:
    for w in v:
        if not _WINDOW.match(w):
            raise ValueError(f'time window {w!r} must be "HH:MM-HH:MM" (24 h)')
    return v


class RuleConfig(Strict):
    """What every rule shares: which detections count, how long they must stay, when the rule sleeps."""

    enabled: bool = True
    classes: list[str] = Field(min_length=1, description="detector classes this rule judges")
    min_score: float = Field(0.35, ge=0, le=1, description="per-detection score to consider an object")
    min_median_score: float | None = Field(
        None, ge=0, le=1, description="median score over the track's dwell (default: min_score)")
    candidate_min_score: float = Field(
        0.1, ge=0, le=1, description="taught by example (parking): the detector's boxes of any class down to this "
        "score are candidates for the camera's example classifier (the model's min_score must allow it)")
    static_candidates: bool = Field(
        True, description="taught by example (parking, fixed cameras): class-agnostic static objects in the zones "
        "(what appeared and stayed, vision/static_objects) are candidates too, for what the model gives no box")
    min_dwell_s: float = Field(60.0, ge=0, description="seconds stationary inside the zone before an incident")
    stationary_tolerance: float = Field(
        0.35, gt=0, description="allowed drift of the box centre, as a fraction of the box's diagonal"
    )
    motion_window_s: float = Field(10.0, gt=0, description="window over which stationarity is judged")
    max_gap_s: float = Field(
        5.0, ge=0, description="a track unseen for longer than this restarts its dwell clock"
    )
    leave_after_s: float = Field(
        30.0, ge=0, description="an open incident ends when its spot has been empty this long"
    )
    cooldown_s: float = Field(
        600.0, ge=0, description="no new incident for the same spot of the same zone within this time"
    )
    allowed_hours: list[str] = Field(
        default_factory=list, description='local-time windows "HH:MM-HH:MM" when this is permitted '
        '(e.g. a night market); may cross midnight')
    confirm_hits: int = Field(3, ge=1, description="enforcement (moving) sources: detections needed ...")
    confirm_frames: int = Field(5, ge=1, description="... within this many analysed frames")
    merge_radius_m: float = Field(30.0, ge=0, description="enforcement: same type within this distance ...")
    merge_window_s: float = Field(600.0, ge=0, description="... and this time is one incident, across devices")

    @field_validator("allowed_hours")
    @classmethod
    def _windows(cls, v: list[str]) -> list[str]:
        return check_windows(v)

    @model_validator(mode="after")
    def _k_of_n(self) -> "RuleConfig":
        if self.confirm_hits > self.confirm_frames:
            raise ValueError(f"confirm_hits ({self.confirm_hits}) cannot exceed confirm_frames "
                             f"({self.confirm_frames})")
        return self

    @property
    def median_score(self) -> float:
        return self.min_score if self.min_median_score is None else self.min_median_score


class IllegalParkingConfig(RuleConfig):
    classes: list[str] = Field(default_factory=lambda: ["car", "truck", "bus"], min_length=1)


class NonMotorParkingConfig(RuleConfig):
    classes: list[str] = Field(default_factory=lambda: ["bicycle", "motorcycle"], min_length=1)
    min_dwell_s: float = Field(120.0, ge=0)


class StreetVendingConfig(RuleConfig):
    """With a COCO model: a stationary cluster of a person with vendor items. With a model that has vending
    classes (stall, cart, parasol, goods): list those in ``classes`` and set ``person_classes: []``."""

    classes: list[str] = Field(
        default_factory=lambda: ["umbrella", "dining table", "chair", "bicycle", "motorcycle", "suitcase"],
        min_length=1, description="vendor items")
    person_classes: list[str] = Field(
        default_factory=lambda: ["person"], description="a vendor must stand by the items; [] = items alone")
    min_items: int = Field(1, ge=1, description="vendor items in one cluster")
    cluster_gap: float = Field(
        0.5, ge=0, description="largest gap between boxes of one cluster, as a fraction of the taller box")
    min_score: float = Field(0.3, ge=0, le=1)
    min_dwell_s: float = Field(120.0, ge=0)
    stationary_tolerance: float = Field(0.5, gt=0)
    state_min_probability: float = Field(
        0.6, ge=0, le=1, description="a vending spot judged by its taught state (stall present / absent examples "
        "of the camera): probability of 'present' that makes it a candidate")
    occluder_classes: list[str] = Field(
        default_factory=lambda: ["car", "bus", "truck"],
        description="a spot judged by its state: frames where these cover the spot are not judged")


class OverflowingBinConfig(RuleConfig):
    """A bin region is a zone with ``events: [overflowing_bin]``; judged full by the model class in
    ``classes`` or by a few-shot classifier trained at start-up from ``examples_dir`` (full/, not_full/)."""

    classes: list[str] = Field(default_factory=lambda: ["overflowing_bin"], min_length=1)
    examples_dir: str | None = Field(
        None, description="labelled crops of this camera's bin region: <dir>/full/*.jpg, <dir>/not_full/*.jpg")
    occluder_classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        description="frames where these cover the bin region are not judged")
    min_score: float = Field(0.6, ge=0, le=1, description="classifier probability of 'full'")
    min_dwell_s: float = Field(300.0, ge=0)


class StaticObjectsConfig(RuleConfig):
    """Model classes combined with class-agnostic static objects (vision/static_objects) that appeared in the zone
    and fit its size and shape: the one settings base of every static-object type (debris, piled material, bagged
    garbage, shop-front goods; the scenes of `StaticSceneConfig` add colour and fill)."""

    static_objects: bool = Field(True, description="find the objects as new static objects (no class needed)")
    baseline: Literal["scene", "surface"] = Field(
        "scene", description="scene: long-term background learned from the stream (finds what appears); "
        "surface: the zone's clean ground (also finds what already lay there at start)")
    min_area: float = Field(0.0002, gt=0, le=1, description="smallest static object, fraction of the frame")
    max_area: float = Field(0.05, gt=0, le=1, description="largest static object, fraction of the frame")
    min_aspect: float = Field(0.0, ge=0, description="static objects: smallest width / height")
    max_aspect: float = Field(100.0, gt=0, description="static objects: largest width / height")
    static_after_s: float = Field(4.0, gt=0, description="unchanged this long -> static (short-term model)")
    long_term_s: float = Field(600.0, gt=0, description="memory of the long-term background")
    ignore_classes: list[str] = Field(
        default_factory=lambda: ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        description="regions covered by these tracked objects are not static objects")
    min_dwell_s: float = Field(120.0, ge=0)
    stationary_tolerance: float = Field(0.25, gt=0)


class DebrisSpillConfig(StaticObjectsConfig):
    """Debris classes from the model, combined with class-agnostic static objects (vision/static_objects)."""

    classes: list[str] = Field(default_factory=lambda: ["debris", "garbage", "trash"], min_length=1)


class OutsideShopBusinessConfig(StaticObjectsConfig):
    """店外经营: goods, racks, tables or chairs left standing in a shop-front zone while the shop is open. Model
    classes (COCO chair, dining table, bench; an urban model's goods/rack) and static objects of goods' size."""

    classes: list[str] = Field(
        default_factory=lambda: ["chair", "dining table", "bench", "goods_display"], min_length=1)
    opening_hours: list[str] = Field(
        default_factory=list, description='local-time windows "HH:MM-HH:MM" when shops are open and this is '
        'judged; empty: always judged')
    min_area: float = Field(0.001, gt=0, le=1)
    max_area: float = Field(0.08, gt=0, le=1)
    min_dwell_s: float = Field(300.0, ge=0)

    @field_validator("opening_hours")
    @classmethod
    def _opening(cls, v: list[str]) -> list[str]:
        return check_windows(v)


class IllegalUmbrellaConfig(RuleConfig):
    """违规撑伞: a large umbrella or parasol standing still in a shop-front or footway zone. A pedestrian's
    umbrella moves through and never dwells; ``min_area`` keeps hand-held umbrellas out when they stop."""

    classes: list[str] = Field(default_factory=lambda: ["umbrella", "parasol"], min_length=1)
    min_area: float = Field(0.004, ge=0, le=1, description="smallest umbrella box, fraction of the frame")
    min_dwell_s: float = Field(120.0, ge=0)
    stationary_tolerance: float = Field(0.25, gt=0)


class MaterialPilingConfig(StaticObjectsConfig):
    """乱堆物料: a large static object or pile (bricks, sand, boards) on the footway or carriageway."""

    classes: list[str] = Field(default_factory=lambda: ["material_pile"], min_length=1)
    min_area: float = Field(0.004, gt=0, le=1)
    max_area: float = Field(0.25, gt=0, le=1)
    min_dwell_s: float = Field(300.0, ge=0)


class BaggedGarbageConfig(StaticObjectsConfig):
    """打包垃圾: bags left on the ground; the zone is the ground outside a collection point, not the point itself.
    Bags are compact: their static blobs are neither long nor tall."""

    classes: list[str] = Field(default_factory=lambda: ["garbage_bag"], min_length=1)
    min_area: float = Field(0.0005, gt=0, le=1)
    max_area: float = Field(0.02, gt=0, le=1)
    min_aspect: float = Field(0.4, ge=0)
    max_aspect: float = Field(3.0, gt=0)
    min_dwell_s: float = Field(180.0, ge=0)

class MobileVendingConfig(RuleConfig):
    """无照游商 / 流动商贩: a person with a cart, tricycle or loaded bike (``classes``, within ``cluster_gap`` of a
    person) that stops ``min_stops`` times for at least ``min_stop_s`` each within ``window_s`` inside the zone,
    or stays once for ``min_dwell_s``. A delivery that stops once briefly is neither."""

    classes: list[str] = Field(default_factory=lambda: ["bicycle", "motorcycle"], min_length=1,
                               description="carriers: carts, tricycles, loaded bikes")
    person_classes: list[str] = Field(default_factory=lambda: ["person"], description="the vendor beside the carrier")
    cluster_gap: float = Field(0.5, ge=0, description="largest gap between a person and the carrier, fraction "
                               "of the taller box")
    min_stops: int = Field(2, ge=1, description="stops inside the zone that make a mobile vendor")
    min_stop_s: float = Field(8.0, gt=0, description="standing still this long is a stop")
    window_s: float = Field(600.0, gt=0, description="the stops must fall within this many seconds")
    min_dwell_s: float = Field(60.0, ge=0, description="one stop this long is enough on its own")
    min_score: float = Field(0.3, ge=0, le=1)
    stationary_tolerance: float = Field(0.3, gt=0)
    motion_window_s: float = Field(4.0, gt=0)
    confirm_hits: int = Field(1, ge=1)
    confirm_frames: int = Field(1, ge=1)
    leave_after_s: float = Field(10.0, ge=0, description="the incident ends when the vendor is gone this long")


class StaticSceneConfig(StaticObjectsConfig):
    """Static objects kept when their colour and fill fit the scene (streetsight/scene_rules.py: drying, ads)."""

    min_area: float = Field(0.001, gt=0, le=1)
    max_area: float = Field(0.08, gt=0, le=1)
    min_fill: float = Field(0.0, ge=0, le=1, description="object pixels / box area (1 = a solid rectangle)")
    max_fill: float = Field(1.0, ge=0, le=1)
    min_saturation: float = Field(0.0, ge=0, le=255, description="median HSV saturation of the object's pixels")
    min_dwell_s: float = Field(60.0, ge=0)


class StreetDryingConfig(StaticSceneConfig):
    """沿街晾晒: laundry or bedding hung on railings, trees or wires: colourful textile, not a solid block."""

    classes: list[str] = Field(default_factory=lambda: ["laundry"], min_length=1)
    min_saturation: float = Field(60.0, ge=0, le=255)
    max_fill: float = Field(0.95, ge=0, le=1)


class IllegalAdvertisingConfig(StaticSceneConfig):
    """违规户外广告: a new banner, standing sign or poster: a solid, rectangular new object in a clear zone."""

    classes: list[str] = Field(default_factory=lambda: ["ad_sign"], min_length=1)
    min_fill: float = Field(0.8, ge=0, le=1)
    min_area: float = Field(0.002, gt=0, le=1)


class UncoveredMuckTruckConfig(RuleConfig):
    """渣土车未苫盖: a truck in the zone whose bed crop (``bed``: x1, y1, x2, y2 as fractions of the truck's box) the
    camera's state classifier judges uncovered, in ``confirm_hits`` of ``confirm_frames`` analysed frames. The
    classifier is trained at start-up from ``examples_dir`` (uncovered/, covered/) or from reviewers' examples."""

    classes: list[str] = Field(default_factory=lambda: ["truck", "muck_truck"], min_length=1)
    examples_dir: str | None = Field(
        None, description="labelled truck-bed crops of this camera: <dir>/uncovered/*.jpg, <dir>/covered/*.jpg")
    bed: tuple[float, float, float, float] = Field(
        (0.0, 0.0, 1.0, 0.6), description="the load's part of the truck box (x1, y1, x2, y2, fractions)")
    min_uncovered: float = Field(0.6, ge=0, le=1, description="classifier probability of 'uncovered'")
    min_score: float = Field(0.35, ge=0, le=1)
    confirm_hits: int = Field(3, ge=1)
    confirm_frames: int = Field(5, ge=1)
    leave_after_s: float = Field(5.0, ge=0, description="the incident ends when the truck is gone this long")

    @field_validator("bed")
    @classmethod
    def _bed_inside_the_box(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = v
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise ValueError(f"bed {list(v)} must be x1 < x2 and y1 < y2, all within 0..1 of the truck's box")
        return v
