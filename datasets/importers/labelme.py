"""labelme -> YOLO. One JSON per image (``shapes`` with ``label``, ``points``, ``shape_type``; ``imagePath``,
``imageWidth``, ``imageHeight``; optionally the image itself base64-encoded in ``imageData``).

Rectangles, polygons, circles, lines and points become the box around their points (a circle: centre and
a point on the rim). Shapes whose label is not mapped to a class are skipped when ``skip_unknown``.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Mapping, Sequence

from datasets.importers.writer import DatasetWriter
from datasets.yolo import IMAGE_EXTS, DatasetError

SUPPORTED = {"rectangle", "polygon", "circle", "line", "linestrip", "point", "points", None}


def shape_box(shape: dict, where: str) -> tuple[float, float, float, float]:
    pts = shape.get("points")
    if not isinstance(pts, list) or not pts or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pts):
        raise DatasetError(f"{where}: field 'points' must be a list of [x, y]")
    kind = shape.get("shape_type")
    if kind not in SUPPORTED:
        raise DatasetError(f"{where}: field 'shape_type' {kind!r} is not supported ({sorted(k for k in SUPPORTED if k)})")
    if kind == "circle":
        if len(pts) != 2:
            raise DatasetError(f"{where}: a circle needs 2 points (centre, rim)")
        (cx, cy), (px, py) = pts
        r = ((px - cx) ** 2 + (py - cy) ** 2) ** 0.5
        return cx - r, cy - r, cx + r, cy + r
    xs = [float(p[0]) for p in pts]
    ys = [float(p[1]) for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def import_labelme(src: str | Path, dest: str | Path, *, class_map: Mapping[str, str] | None = None,
                   names: Sequence[str] | None = None, skip_unknown: bool = False,
                   name: str | None = None, version: str = "1") -> dict:
    src = Path(src)
    files = sorted(src.rglob("*.json"))
    if not files:
        raise DatasetError(f"{src}: no labelme .json files found")
    class_map = dict(class_map or {})
    writer = DatasetWriter(dest, names, skip_unknown)
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"{path}: not valid JSON: {err}") from None
        if not isinstance(data, dict) or "shapes" not in data:
            continue  # some other JSON in the folder
        image = _image_for(path, data)
        try:
            width, height = int(data["imageWidth"]), int(data["imageHeight"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{path}: fields 'imageWidth' and 'imageHeight' must be integers") from None
        boxes = []
        for i, shape in enumerate(data["shapes"] or []):
            label = str(shape.get("label", "")).strip()
            if not label:
                raise DatasetError(f"{path}: shapes[{i}]: field 'label' is empty")
            boxes.append((class_map.get(label, label), shape_box(shape, f"{path}: shapes[{i}]")))
        stem = path.relative_to(src).with_suffix("").as_posix()
        if isinstance(image, Path):
            writer.add_file(image, stem, boxes, width, height)
        else:
            writer.add_bytes(*image, stem, boxes, width, height)
    return writer.finish(name=name or Path(dest).name, version=version, tool="datasets.importers.labelme",
                         params={"src": str(src.resolve()), "class_map": class_map})


def _image_for(json_path: Path, data: dict) -> Path | tuple[bytes, str]:
    """The image file beside the JSON, or (bytes, suffix) of the copy embedded in ``imageData``."""
    rel = data.get("imagePath")
    if rel:
        candidate = (json_path.parent / str(rel).replace("\\", "/")).resolve()
        if candidate.is_file():
            return candidate
    for ext in IMAGE_EXTS:
        candidate = json_path.with_suffix(ext)
        if candidate.is_file():
            return candidate
    if data.get("imageData"):
        try:
            raw = base64.b64decode(data["imageData"], validate=True)
        except ValueError:
            raise DatasetError(f"{json_path}: field 'imageData' is not valid base64") from None
        return raw, (Path(str(rel or "image.png")).suffix.lower() or ".png")
    raise DatasetError(f"{json_path}: field 'imagePath' {rel!r}: image not found and no 'imageData'")
