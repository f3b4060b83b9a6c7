"""`dataset.json`: what a dataset version is made of, so a model can name the exact data it learned from.

Every tool that writes a dataset writes one: name, version, the tool and its parameters, the parent
datasets, per-split counts, and a content hash over every image and label file (same files -> same
hash, whatever the folder is called). Treat a written version as read-only: a change is a new version.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from common.hashing import sha256_file
from datasets.yolo import label_path_for, load_dataset, read_labels

MANIFEST = "dataset.json"
SCHEMA = "streetsight.dataset/1"


def content_hash(root: Path) -> str:
    """SHA-256 over (relative path, file sha256) of every image and label of the dataset at ``root``."""
    ds = load_dataset(root)
    h = hashlib.sha256()
    for split, image in ds.all_images():
        for path in (image, label_path_for(image)):
            if path.exists():
                h.update(f"{split}/{path.relative_to(ds.root).as_posix()}\0{sha256_file(path).sha256}\n".encode())
    return h.hexdigest()


def split_counts(root: Path) -> dict[str, dict[str, Any]]:
    ds = load_dataset(root)
    out: dict[str, dict[str, Any]] = {}
    for split in ds.splits:
        per_class = [0] * len(ds.names)
        images = backgrounds = 0
        for image in ds.images(split):
            images += 1
            boxes = read_labels(label_path_for(image), len(ds.names))
            backgrounds += not boxes
            for b in boxes:
                per_class[b.class_id] += 1
        out[split] = {"images": images, "backgrounds": backgrounds,
                      "instances": dict(zip(ds.names, per_class))}
    return out


def write_manifest(root: Path, *, name: str, version: str, tool: str, params: Mapping[str, Any] | None = None,
                   parents: Sequence[Mapping[str, Any]] = (), extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``root/dataset.json`` (after the files are in place) and return it."""
    ds = load_dataset(root)
    manifest: dict[str, Any] = {
        "schema": SCHEMA,
        "name": name,
        "version": version,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "tool": tool,
        "params": dict(params or {}),
        "parents": [dict(p) for p in parents],
        "classes": ds.names,
        "splits": split_counts(root),
        "content_sha256": content_hash(root),
        **dict(extra or {}),
    }
    (Path(root) / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def read_manifest(root: Path) -> dict[str, Any] | None:
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def parent_ref(root: Path) -> dict[str, Any]:
    """How a derived dataset names its parent: path, name, version and content hash."""
    m = read_manifest(root) or {}
    return {"path": str(Path(root).resolve()), "name": m.get("name"), "version": m.get("version"),
            "content_sha256": m.get("content_sha256") or content_hash(root)}
