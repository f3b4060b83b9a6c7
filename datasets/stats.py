"""Dataset statistics: images, backgrounds, instances per class and split, and box sizes.

Box sizes use COCO's bins on the box area in pixels of the original image (small < 32², medium < 96²,
large above): a class whose boxes are mostly small needs a larger training image size.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from datasets.yolo import image_size, label_path_for, load_dataset, read_labels

SMALL, MEDIUM = 32 ** 2, 96 ** 2


def dataset_stats(path: str | Path) -> dict[str, Any]:
    ds = load_dataset(path)
    out: dict[str, Any] = {"root": str(ds.root), "classes": ds.names, "splits": {}}
    per_class_sizes: dict[str, list[tuple[float, float, float]]] = defaultdict(list)  # (w, h, area) in pixels
    for split in ds.splits:
        images = backgrounds = 0
        instances = dict.fromkeys(ds.names, 0)
        images_with = dict.fromkeys(ds.names, 0)
        resolutions: dict[str, int] = defaultdict(int)
        for image in ds.images(split):
            images += 1
            w, h = image_size(image)
            resolutions[f"{w}x{h}"] += 1
            boxes = read_labels(label_path_for(image), len(ds.names))
            backgrounds += not boxes
            for name in {ds.names[b.class_id] for b in boxes}:
                images_with[name] += 1
            for b in boxes:
                name = ds.names[b.class_id]
                instances[name] += 1
                per_class_sizes[name].append((b.w * w, b.h * h, b.w * w * b.h * h))
        out["splits"][split] = {"images": images, "backgrounds": backgrounds, "instances": instances,
                                "images_with_class": images_with, "resolutions": dict(resolutions)}
    out["box_sizes"] = {name: _size_summary(per_class_sizes.get(name, [])) for name in ds.names}
    return out


def _size_summary(sizes: list[tuple[float, float, float]]) -> dict[str, Any]:
    if not sizes:
        return {"count": 0}
    arr = np.asarray(sizes, dtype=np.float64)
    area = arr[:, 2]
    return {
        "count": len(arr),
        "small": int((area < SMALL).sum()), "medium": int(((area >= SMALL) & (area < MEDIUM)).sum()),
        "large": int((area >= MEDIUM).sum()),
        "width_px": _quantiles(arr[:, 0]), "height_px": _quantiles(arr[:, 1]),
    }


def _quantiles(values: np.ndarray) -> dict[str, float]:
    q = np.quantile(values, [0.0, 0.5, 1.0])
    return {"min": round(float(q[0]), 1), "median": round(float(q[1]), 1), "max": round(float(q[2]), 1)}


def format_stats(stats: dict[str, Any]) -> str:
    """A plain-text table for the terminal."""
    names = stats["classes"]
    splits = list(stats["splits"])
    width = max(len(n) for n in names + ["class"]) + 2
    lines = [f"dataset {stats['root']}"]
    lines.append(f"{'':<{width}}" + "".join(f"{s:>10}" for s in splits))
    lines.append(f"{'images':<{width}}" + "".join(f"{stats['splits'][s]['images']:>10}" for s in splits))
    lines.append(f"{'backgrounds':<{width}}" + "".join(f"{stats['splits'][s]['backgrounds']:>10}" for s in splits))
    for n in names:
        lines.append(f"{n:<{width}}" + "".join(f"{stats['splits'][s]['instances'][n]:>10}" for s in splits))
    lines.append("box sizes (pixels; COCO bins small<32², medium<96²):")
    for n in names:
        b = stats["box_sizes"][n]
        if b["count"]:
            lines.append(f"  {n:<{width}} n={b['count']} small={b['small']} medium={b['medium']} large={b['large']} "
                         f"median w×h={b['width_px']['median']}×{b['height_px']['median']}")
        else:
            lines.append(f"  {n:<{width}} n=0")
    return "\n".join(lines)
