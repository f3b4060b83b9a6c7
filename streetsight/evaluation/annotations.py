"""Labelled events of a video, read from our own JSON or from the Tianchi competition's layout.

Ours (one file per video, ``<name>.json``)::

    {"video": "vtest.mp4", "source": "vtest", "frame_size": [768, 576], "media_start": null,
     "events": [{"id": "van", "type": "illegal_parking", "start_s": 0.0, "end_s": 79.4,
                 "box": [x1, y1, x2, y2], "plate": "鄂A5B2C8"}]}

``end_s`` may be null (to the end of the video); ``box`` is in pixels; ``plate`` (optional): the vehicle's
licence plate, scored as plate-read accuracy. The Tianchi 城市管理违规行为智能识别
layout is a list of per-frame entries ``{"frame_id", "event_id", "category", "bbox": [x1, y1, x2, y2]}``;
an event spans its first to last frame, with the box of each labelled frame. Categories are Chinese names
(机动车违停, 非机动车违停, 垃圾桶满溢, 违法经营, ...), our event type names, or the taxonomy's labels.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

log = logging.getLogger(__name__)

CATEGORY_ALIASES: dict[str, str] = {
    "违法经营": "street_vending", "占道经营": "street_vending", "无照经营游商": "street_vending",
    "店外经营": "street_vending", "流动摊贩": "street_vending",
    "机动车违停": "illegal_parking", "机动车乱停放": "illegal_parking", "违章停车": "illegal_parking",
    "非机动车违停": "non_motor_parking", "非机动车乱停放": "non_motor_parking",
    "垃圾桶满溢": "overflowing_bin", "垃圾箱满溢": "overflowing_bin", "垃圾满溢": "overflowing_bin",
    "道路遗撒": "debris_spill", "积存垃圾渣土": "debris_spill", "暴露垃圾": "debris_spill",
    "垃圾乱堆": "debris_spill",
}


class AnnotationError(ValueError):
    """A malformed annotation file; the message names the file and the field."""


@dataclass
class LabelledEvent:
    id: str
    type: str
    start_s: float
    end_s: float | None  # None: to the end of the video
    boxes: list[tuple[float, tuple[float, float, float, float]]] = field(default_factory=list)  # (t, box)
    plate: str | None = None  # the labelled licence plate, if any

    def box_near(self, t: float) -> tuple[float, float, float, float] | None:
        if not self.boxes:
            return None
        return min(self.boxes, key=lambda tb: abs(tb[0] - t))[1]


@dataclass
class VideoAnnotation:
    name: str  # the annotation file's stem
    video: str | None  # video file name, if the annotation says
    source: str | None
    events: list[LabelledEvent]
    media_start: str | None = None
    unknown_categories: set[str] = field(default_factory=set)


def _box(value: Any, where: str) -> tuple[float, float, float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise AnnotationError(f"{where}: a box is [x1, y1, x2, y2], got {value!r}")
    try:
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: a box holds numbers, got {value!r}") from None
    if x2 <= x1 or y2 <= y1:
        raise AnnotationError(f"{where}: x2 > x1 and y2 > y1 needed, got {value!r}")
    return x1, y1, x2, y2


def category_to_type(category: str, extra: Mapping[str, str] | None = None) -> str | None:
    known = {**CATEGORY_ALIASES, **(extra or {})}
    c = str(category).strip()
    return c if c in set(CATEGORY_ALIASES.values()) else known.get(c)


def read_ours(path: Path, data: dict) -> VideoAnnotation:
    events = []
    raw = data.get("events")
    if not isinstance(raw, list):
        raise AnnotationError(f"{path}: events: a list of events is needed")
    for i, e in enumerate(raw):
        where = f"{path}: events[{i}]"
        if not isinstance(e, dict):
            raise AnnotationError(f"{where}: an object is needed")
        for key in ("type", "start_s"):
            if key not in e:
                raise AnnotationError(f"{where}.{key}: missing")
        try:
            start = float(e["start_s"])
            end = None if e.get("end_s") is None else float(e["end_s"])
        except (TypeError, ValueError):
            raise AnnotationError(f"{where}: start_s and end_s are seconds") from None
        if end is not None and end < start:
            raise AnnotationError(f"{where}.end_s: {end} is before start_s {start}")
        boxes = [(start, _box(e["box"], f"{where}.box"))] if e.get("box") is not None else []
        plate = e.get("plate")
        if plate is not None and (not isinstance(plate, str) or not plate.strip()):
            raise AnnotationError(f"{where}.plate: the plate's text is needed, got {plate!r}")
        events.append(LabelledEvent(str(e.get("id", i)), str(e["type"]), start, end, boxes,
                                    plate.strip() if plate else None))
    return VideoAnnotation(path.stem, data.get("video"), data.get("source"), events, data.get("media_start"))


def read_tianchi(path: Path, entries: list, fps: float, aliases: Mapping[str, str] | None = None) -> VideoAnnotation:
    grouped: dict[tuple[str, str], list[tuple[float, tuple]]] = {}
    unknown: set[str] = set()
    for i, e in enumerate(entries):
        where = f"{path}: [{i}]"
        if not isinstance(e, dict):
            raise AnnotationError(f"{where}: an object is needed")
        for key in ("frame_id", "event_id", "category", "bbox"):
            if key not in e:
                raise AnnotationError(f"{where}.{key}: missing")
        event_type = category_to_type(e["category"], aliases)
        if event_type is None:
            unknown.add(str(e["category"]))
            continue
        try:
            t = float(e["frame_id"]) / fps
        except (TypeError, ValueError):
            raise AnnotationError(f"{where}.frame_id: a frame number is needed, got {e['frame_id']!r}") from None
        grouped.setdefault((str(e["event_id"]), event_type), []).append((t, _box(e["bbox"], f"{where}.bbox")))
    if unknown:
        log.warning("%s: categories not judged by any rule, ignored: %s", path, sorted(unknown))
    events = [LabelledEvent(eid, etype, min(t for t, _ in boxes), max(t for t, _ in boxes), sorted(boxes))
              for (eid, etype), boxes in grouped.items()]
    return VideoAnnotation(path.stem, None, None, events, unknown_categories=unknown)


def is_tianchi(data: Any) -> bool:
    return isinstance(data, list) and all(isinstance(e, dict) and "frame_id" in e for e in data)


def load_annotation(path: Path, fps_of_video=None, aliases: Mapping[str, str] | None = None) -> VideoAnnotation:
    """``fps_of_video(stem) -> fps`` is asked only for Tianchi files (frame numbers need a frame rate)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AnnotationError(f"{path}: not readable JSON: {exc}") from None
    if is_tianchi(data):
        if fps_of_video is None:
            raise AnnotationError(f"{path}: Tianchi frame numbers need the video's frame rate")
        return read_tianchi(path, data, fps_of_video(path.stem), aliases)
    if isinstance(data, dict):
        return read_ours(path, data)
    raise AnnotationError(f"{path}: neither our annotation format nor the Tianchi layout")
