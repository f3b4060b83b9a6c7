"""Tianchi 城市管理违规行为智能识别 (city-management violation recognition) -> YOLO.

The layout: one MP4 per camera clip and one JSON per video with the same stem (anywhere under the folder,
e.g. ``视频/12.mp4`` and ``标注/12.json``); the JSON is a list of
``{"frame_id": 20, "event_id": 1, "category": "机动车违停", "bbox": [xmin, ymin, xmax, ymax]}`` in pixels.

Each annotated frame becomes an image with its boxes; ``every`` keeps one annotated frame in N per video
(consecutive frames are near duplicates), ``negatives`` adds that many unannotated frames per video as
background images. Frame ids count from ``frame_base`` (0: the first decoded frame). Categories are
event names; ``DEFAULT_CLASS_MAP`` maps them to the object classes our detectors use (a parked car is
what the box holds) and can be overridden.
"""
from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

from datasets.importers.writer import DatasetWriter
from datasets.yolo import DatasetError

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".ts", ".flv")
DEFAULT_CLASS_MAP: dict[str, str] = {
    "垃圾桶满溢": "overflowing_bin",
    "违法经营": "vendor_stall",
    "占道经营": "vendor_stall",
    "店外经营": "vendor_stall",
    "无照经营游商": "vendor_stall",
    "机动车违停": "parked_vehicle",
    "非机动车违停": "parked_non_motor",
}


def read_annotations(path: Path) -> dict[int, list[tuple[str, list[float], object]]]:
    """frame id -> [(category, bbox, event_id)], validated."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not valid JSON: {err}") from None
    if isinstance(data, dict):  # some copies wrap the list: {"annotations": [...]}
        data = data.get("annotations", data.get("data"))
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a list of {{frame_id, event_id, category, bbox}}")
    frames: dict[int, list[tuple[str, list[float], object]]] = defaultdict(list)
    for i, item in enumerate(data):
        where = f"{path}: [{i}]"
        if not isinstance(item, dict):
            raise DatasetError(f"{where}: must be an object")
        try:
            frame_id = int(item["frame_id"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{where}: field 'frame_id' must be an integer") from None
        category = str(item.get("category", "")).strip()
        if not category:
            raise DatasetError(f"{where}: field 'category' is missing")
        bbox = item.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise DatasetError(f"{where}: field 'bbox' must be [xmin, ymin, xmax, ymax]")
        if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
            raise DatasetError(f"{where}: field 'bbox' {bbox}: xmax/ymax must exceed xmin/ymin")
        frames[frame_id].append((category, [float(v) for v in bbox], item.get("event_id")))
    return frames


def find_pairs(src: Path) -> list[tuple[Path, Path]]:
    videos = {p.stem: p for p in sorted(src.rglob("*")) if p.suffix.lower() in VIDEO_EXTS}
    pairs = []
    for ann in sorted(src.rglob("*.json")):
        if ann.stem in videos:
            pairs.append((videos[ann.stem], ann))
    if not pairs:
        raise DatasetError(f"{src}: no video with a JSON of the same name (e.g. 12.mp4 and 12.json)")
    return pairs


def import_tianchi(src: str | Path, dest: str | Path, *, every: int = 1, negatives: int = 0,
                   frame_base: int = 0, class_map: Mapping[str, str] | None = None,
                   names: Sequence[str] | None = None, skip_unknown: bool = False, seed: int = 0,
                   name: str | None = None, version: str = "1") -> dict:
    import av

    src = Path(src)
    if every < 1:
        raise DatasetError(f"every: must be >= 1, got {every}")
    mapping = {**DEFAULT_CLASS_MAP, **dict(class_map or {})}
    writer = DatasetWriter(dest, names, skip_unknown)
    rng = random.Random(seed)
    per_video: dict[str, dict[str, int]] = {}
    for video, ann in find_pairs(src):
        frames = read_annotations(ann)
        wanted = sorted(frames)[::every]
        keep = {f - frame_base: frames[f] for f in wanted}
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            total = stream.frames or 0
            if not total and stream.duration and stream.average_rate:  # some containers do not count frames
                total = int(float(stream.duration * stream.time_base) * float(stream.average_rate))
            pool = [i for i in range(total) if i + frame_base not in frames]
            background = set(rng.sample(pool, min(negatives, len(pool)))) if negatives and pool else set()
            last = max([*keep, *background], default=-1)
            written = negatives_written = 0
            index = -1
            for index, frame in enumerate(container.decode(stream)):
                if index > last:
                    break
                if index not in keep and index not in background:
                    continue
                image = frame.to_ndarray(format="bgr24")
                boxes = [(mapping.get(cat, cat), bbox) for cat, bbox, _event in keep.get(index, [])]
                writer.add_array(image, f"{video.stem}_f{index + frame_base:06d}", boxes)
                if index in keep:
                    written += 1
                else:
                    negatives_written += 1
        missing = len([f for f in keep if f > index])  # annotated frames the video does not have
        per_video[video.name] = {"annotated_frames": len(frames), "images": written,
                                 "backgrounds": negatives_written, "frames_past_end": missing}
    return writer.finish(name=name or Path(dest).name, version=version, tool="datasets.importers.tianchi",
                         params={"src": str(src.resolve()), "every": every, "negatives": negatives,
                                 "frame_base": frame_base, "class_map": mapping, "seed": seed},
                         extra={"videos": per_video})
