"""The event types, declared once: name, default labels (taxonomy), settings model (with its default
classes) and how its rule takes candidates. The configuration's ``rules:`` and ``taxonomy:`` sections,
the zone, dispatch, auto-case and retention key validators and the rule builders all derive from here.

Adding a type is one ``register(EventType(...))`` here (before streetsight.config is imported, as the
sections are built then) plus its rule in streetsight/rules.py when the dwell/sighting core alone is not
enough. Standard library and the settings models only: config.py and object_storage_config.py import this.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from streetsight.rule_settings import (BaggedGarbageConfig, DebrisSpillConfig, IllegalParkingConfig,
                                       IllegalUmbrellaConfig, MaterialPilingConfig, NonMotorParkingConfig,
                                       OutsideShopBusinessConfig, OverflowingBinConfig, RuleConfig,
                                       StreetVendingConfig)

STREET_ORDER = {"category": "05", "category_zh": "街面秩序", "category_en": "street order"}
CITY_APPEARANCE = {"category": "01", "category_zh": "市容环境", "category_en": "city appearance"}


@dataclass(frozen=True)
class EventType:
    name: str
    settings: type[RuleConfig]  # the model of its `rules:` entry; its `classes` default is the default classes
    labels: dict[str, str] = field(default_factory=dict)  # default taxonomy entry (EventLabels fields)
    # True: its rule picks candidates from every detection itself (vendor clusters, static objects, bin
    # regions); False: the dwell/sighting core keeps only `classes`.
    own_candidates: bool = False


_REGISTRY: dict[str, EventType] = {}


def register(event_type: EventType) -> EventType:
    if event_type.name in _REGISTRY:
        raise ValueError(f"event type {event_type.name!r} is already registered")
    _REGISTRY[event_type.name] = event_type
    return event_type


def names() -> tuple[str, ...]:
    """Every registered type, in declaration order. Validators call this when they run."""
    return tuple(_REGISTRY)


def get(name: str) -> EventType:
    return _REGISTRY[name]


def all_types() -> tuple[EventType, ...]:
    return tuple(_REGISTRY.values())


def unknown_types_problem(given: list[str] | tuple[str, ...], extra: tuple[str, ...] = ()) -> str | None:
    """The one message for names that are not event types; None when all are known (or in ``extra``)."""
    known = (*extra, *names())
    unknown = [t for t in given if t not in known]
    return f"unknown event type(s) {unknown}; known: {list(known)}" if unknown else None


register(EventType("street_vending", StreetVendingConfig, {**STREET_ORDER, "zh": "占道经营", "en": "street vending"},
                   own_candidates=True))
register(EventType("illegal_parking", IllegalParkingConfig,
                   {**STREET_ORDER, "zh": "机动车乱停放", "en": "illegal parking"}))
register(EventType("non_motor_parking", NonMotorParkingConfig,
                   {**STREET_ORDER, "zh": "非机动车乱停放", "en": "non-motor vehicle parking"}))
register(EventType("overflowing_bin", OverflowingBinConfig,
                   {**CITY_APPEARANCE, "zh": "垃圾箱满溢", "en": "overflowing bin"}, own_candidates=True))
register(EventType("debris_spill", DebrisSpillConfig, {**CITY_APPEARANCE, "zh": "道路遗撒", "en": "debris spill"},
                   own_candidates=True))
register(EventType("outside_shop_business", OutsideShopBusinessConfig,
                   {**STREET_ORDER, "zh": "店外经营", "en": "business outside the shop"}, own_candidates=True))
register(EventType("illegal_umbrella", IllegalUmbrellaConfig,
                   {**STREET_ORDER, "zh": "违规撑伞", "en": "illegal umbrella"}, own_candidates=True))
register(EventType("material_piling", MaterialPilingConfig,
                   {**STREET_ORDER, "zh": "乱堆物料", "en": "material piling"}, own_candidates=True))
register(EventType("bagged_garbage", BaggedGarbageConfig,
                   {**CITY_APPEARANCE, "zh": "打包垃圾", "en": "bagged garbage"}, own_candidates=True))
SHOP_FRONT_TYPES = ("outside_shop_business", "illegal_umbrella")  # incidents that name the shop (门前三包)

# Scenes of issue 15 (stream scenes2): moving vendors, drying, ads, muck trucks.
from streetsight.rule_settings import (IllegalAdvertisingConfig, MobileVendingConfig,  # noqa: E402
                                       StreetDryingConfig, UncoveredMuckTruckConfig)

PUBLICITY = {"category": "02", "category_zh": "宣传广告", "category_en": "publicity and advertising"}
register(EventType("mobile_vending", MobileVendingConfig,
                   {**STREET_ORDER, "zh": "无照游商", "en": "mobile vending"}, own_candidates=True))
register(EventType("street_drying", StreetDryingConfig,
                   {**CITY_APPEARANCE, "zh": "沿街晾晒", "en": "street drying"}, own_candidates=True))
register(EventType("illegal_advertising", IllegalAdvertisingConfig,
                   {**PUBLICITY, "zh": "违规户外广告", "en": "illegal outdoor advertising"}, own_candidates=True))
register(EventType("uncovered_muck_truck", UncoveredMuckTruckConfig,
                   {**CITY_APPEARANCE, "zh": "渣土车未苫盖", "en": "uncovered muck truck"}, own_candidates=True))
