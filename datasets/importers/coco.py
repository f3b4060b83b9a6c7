"""COCO detection JSON -> YOLO. ``images`` (id, file_name, width, height), ``annotations`` (image_id,
category_id, bbox [x, y, w, h] in pixels, iscrowd), ``categories`` (id, name).

Crowd annotations are skipped (as Ultralytics' own converter does) and counted; images without an
annotation become background images. Category ids may be sparse: classes are renumbered 0..n-1 in
category-id order (or follow ``names``).
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

from datasets.importers.writer import DatasetWriter
from datasets.yolo import DatasetError


def import_coco(annotations: str | Path, images_dir: str | Path, dest: str | Path, *,
                class_map: Mapping[str, str] | None = None, names: Sequence[str] | None = None,
                skip_unknown: bool = False, name: str | None = None, version: str = "1") -> dict:
    annotations, images_dir = Path(annotations), Path(images_dir)
    try:
        data = json.loads(annotations.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{annotations}: no such file") from None
    except json.JSONDecodeError as err:
        raise DatasetError(f"{annotations}: not valid JSON: {err}") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{annotations}: field '{key}' must be a list")
    class_map = dict(class_map or {})
    categories: dict[int, str] = {}
    for i, c in enumerate(data["categories"]):
        try:
            categories[int(c["id"])] = str(c["name"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{annotations}: categories[{i}]: fields 'id' and 'name' are required") from None
    order = names or list(dict.fromkeys(class_map.get(categories[k], categories[k]) for k in sorted(categories)))
    writer = DatasetWriter(dest, order, skip_unknown)
    by_image: dict[int, list[dict]] = defaultdict(list)
    crowd = 0
    for i, a in enumerate(data["annotations"]):
        if a.get("iscrowd"):
            crowd += 1
            continue
        try:
            by_image[int(a["image_id"])].append(a)
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{annotations}: annotations[{i}]: field 'image_id' is required") from None
    for i, img in enumerate(data["images"]):
        where = f"{annotations}: images[{i}]"
        try:
            image_id, file_name = int(img["id"]), str(img["file_name"])
            width, height = int(img["width"]), int(img["height"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{where}: fields 'id', 'file_name', 'width', 'height' are required") from None
        path = images_dir / file_name
        if not path.is_file():
            raise DatasetError(f"{where}: field 'file_name': {path} does not exist")
        boxes = []
        for a in by_image.get(image_id, []):
            bbox = a.get("bbox")
            if not (isinstance(bbox, list) and len(bbox) == 4):
                raise DatasetError(f"{annotations}: annotation {a.get('id')}: field 'bbox' must be [x, y, w, h]")
            if a.get("category_id") not in categories:
                raise DatasetError(f"{annotations}: annotation {a.get('id')}: field 'category_id' "
                                   f"{a.get('category_id')!r} is not a category")
            x, y, w, h = (float(v) for v in bbox)
            cls = categories[a["category_id"]]
            boxes.append((class_map.get(cls, cls), (x, y, x + w, y + h)))
        writer.add_file(path, Path(file_name).with_suffix("").as_posix(), boxes, width, height)
    return writer.finish(name=name or Path(dest).name, version=version, tool="datasets.importers.coco",
                         params={"annotations": str(annotations.resolve()), "images": str(images_dir.resolve()),
                                 "class_map": class_map},
                         extra={"skipped_crowd": crowd})
