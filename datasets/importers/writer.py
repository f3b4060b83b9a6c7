"""Writes a YOLO dataset one image at a time (unsplit unless told a split): importers, review export, synth."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from datasets.manifest import write_manifest
from datasets.yolo import UNSPLIT, DatasetError, YoloBox, place_file, split_dirs, write_data_yaml, write_labels


class DatasetWriter:
    """``add_file``/``add_array`` an image with its boxes (pixel corners + class name), then ``finish``.

    Class ids follow ``names`` when given (a name outside it is an error, or skipped and counted when
    ``skip_unknown``); otherwise classes get ids in order of first appearance.
    """

    def __init__(self, dest: str | Path, names: Sequence[str] | None = None, skip_unknown: bool = False,
                 split: str = UNSPLIT) -> None:  # default split of add_*
        self.dest = Path(dest)
        if self.dest.exists() and any(self.dest.iterdir()):
            raise DatasetError(f"{self.dest}: destination exists and is not empty (a dataset version is never overwritten)")
        self.fixed = names is not None
        self.names: list[str] = list(names or [])
        self.skip_unknown = skip_unknown
        self.split = split
        self.used_splits: list[str] = []
        self.images = 0
        self.boxes = 0
        self.skipped: dict[str, int] = {}
        self._stems: set[str] = set()

    def _class_id(self, name: str) -> int | None:
        if name in self.names:
            return self.names.index(name)
        if self.fixed:
            if self.skip_unknown:
                self.skipped[name] = self.skipped.get(name, 0) + 1
                return None
            raise DatasetError(f"class {name!r} is not one of {self.names}")
        self.names.append(name)
        return len(self.names) - 1

    def _stem(self, stem: str) -> str:
        stem = stem.replace("/", "_").replace("\\", "_").replace(" ", "_")
        unique, n = stem, 2
        while unique in self._stems:
            unique, n = f"{stem}_{n}", n + 1
        self._stems.add(unique)
        return unique

    def _dirs(self, split: str | None) -> tuple[Path, Path]:
        split = split or self.split
        if split not in self.used_splits:
            self.used_splits.append(split)
        return split_dirs(self.dest, split)

    def _labels(self, labels_dir: Path, stem: str, boxes: Iterable[tuple[str, Sequence[float]]], width: int,
                height: int) -> None:
        rows = []
        for name, xyxy in boxes:
            cid = self._class_id(name)
            if cid is None:
                continue
            box = YoloBox.from_xyxy(cid, xyxy, width, height)
            if box.w <= 0 or box.h <= 0:
                self.skipped["<empty box>"] = self.skipped.get("<empty box>", 0) + 1
                continue
            rows.append(box)
        write_labels(labels_dir / f"{stem}.txt", rows)
        self.images += 1
        self.boxes += len(rows)

    def add_file(self, image: Path, stem: str, boxes: Iterable[tuple[str, Sequence[float]]], width: int, height: int,
                 split: str | None = None) -> str:
        images_dir, labels_dir = self._dirs(split)
        stem = self._stem(stem)
        place_file(image, images_dir / f"{stem}{image.suffix.lower()}")
        self._labels(labels_dir, stem, boxes, width, height)
        return stem

    def add_bytes(self, data: bytes, suffix: str, stem: str, boxes: Iterable[tuple[str, Sequence[float]]],
                  width: int, height: int, split: str | None = None) -> str:
        images_dir, labels_dir = self._dirs(split)
        stem = self._stem(stem)
        images_dir.mkdir(parents=True, exist_ok=True)
        (images_dir / f"{stem}{suffix}").write_bytes(data)
        self._labels(labels_dir, stem, boxes, width, height)
        return stem

    def add_array(self, image: np.ndarray, stem: str, boxes: Iterable[tuple[str, Sequence[float]]],
                  quality: int = 95, split: str | None = None) -> str:
        import cv2

        images_dir, labels_dir = self._dirs(split)
        stem = self._stem(stem)
        images_dir.mkdir(parents=True, exist_ok=True)
        path = images_dir / f"{stem}.jpg"
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)]):
            raise OSError(f"cannot write {path}")
        self._labels(labels_dir, stem, boxes, image.shape[1], image.shape[0])
        return stem

    def finish(self, *, name: str, version: str, tool: str, params: Mapping[str, Any] | None = None,
               extra: Mapping[str, Any] | None = None) -> dict:
        if not self.names:
            raise DatasetError(f"{self.dest}: nothing imported has a class (no boxes found)")
        for split in self.used_splits or [self.split]:
            for folder in split_dirs(self.dest, split):
                folder.mkdir(parents=True, exist_ok=True)
        write_data_yaml(self.dest, self.names, self.used_splits or [self.split])
        summary = {"imported_images": self.images, "imported_boxes": self.boxes, "skipped": self.skipped}
        return write_manifest(self.dest, name=name, version=version, tool=tool, params=params,
                              extra={**summary, **dict(extra or {})})
