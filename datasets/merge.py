"""Merge YOLO datasets into one: classes unified by name, ids remapped, splits kept, names never clash.

``rename`` maps a source class name to the merged name (``{"trash_bag": "garbage_bag"}``); a class renamed
to ``None`` is dropped (its boxes removed, the image kept). The merged class list is ``names`` when given
(a source class outside it is an error unless ``drop_unknown``), else every class in order of first
appearance. File names are kept (so they stay stable from one dataset version to the next) unless they
clash with one already merged: then the file is prefixed with its source's tag (``<tag>__000001.jpg``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

from datasets.manifest import parent_ref, write_manifest
from datasets.yolo import (
    DatasetError,
    YoloBox,
    label_path_for,
    load_dataset,
    place_file,
    read_labels,
    split_dirs,
    write_data_yaml,
    write_labels,
)


def _tag(path: Path, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.resolve().name) or "ds"
    tag, n = base, 2
    while tag in used:
        tag, n = f"{base}{n}", n + 1
    used.add(tag)
    return tag


def merge_datasets(sources: Sequence[str | Path], dest: str | Path, *, names: Sequence[str] | None = None,
                   rename: Mapping[str, str | None] | None = None, drop_unknown: bool = False,
                   name: str | None = None, version: str = "1") -> dict:
    if not sources:
        raise DatasetError("merge: give at least one source dataset")
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise DatasetError(f"{dest}: destination exists and is not empty (a dataset version is never overwritten)")
    rename = dict(rename or {})
    loaded = [load_dataset(s) for s in sources]
    merged: list[str] = list(names) if names else []
    if not names:
        for ds in loaded:
            for n in ds.names:
                target = rename.get(n, n)
                if target is not None and target not in merged:
                    merged.append(target)
    index = {n: i for i, n in enumerate(merged)}
    for ds in loaded:
        for n in ds.names:
            target = rename.get(n, n)
            if target is not None and target not in index and not drop_unknown:
                raise DatasetError(f"{ds.yaml_path}: class {n!r} is not in the merged names {merged} "
                                   "(rename it, or pass drop_unknown)")
    used_tags: set[str] = set()
    used_splits: list[str] = []
    placed: set[str] = set()
    for ds in loaded:
        tag = _tag(ds.root, used_tags)
        remap = {i: index.get(rename.get(n, n)) for i, n in enumerate(ds.names)}  # None: dropped
        for split, image in ds.all_images():
            if split not in used_splits:
                used_splits.append(split)
            img_dir, lbl_dir = split_dirs(dest, split)
            stem = image.stem if image.stem not in placed else f"{tag}__{image.stem}"
            if stem in placed:
                raise DatasetError(f"{image}: file name {image.stem!r} appears twice in {ds.root}")
            placed.add(stem)
            place_file(image, img_dir / f"{stem}{image.suffix.lower()}")
            boxes = [YoloBox(remap[b.class_id], b.cx, b.cy, b.w, b.h)
                     for b in read_labels(label_path_for(image), len(ds.names)) if remap[b.class_id] is not None]
            write_labels(lbl_dir / f"{stem}.txt", boxes)
    write_data_yaml(dest, merged, used_splits)
    return write_manifest(dest, name=name or dest.name, version=version, tool="datasets.merge",
                          params={"rename": rename, "names": list(names) if names else None,
                                  "drop_unknown": drop_unknown},
                          parents=[parent_ref(ds.root) for ds in loaded])
