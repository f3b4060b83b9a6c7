"""The YOLO dataset format as Ultralytics reads it, and the small helpers every dataset tool shares.

Layout (what every tool here writes)::

    <root>/data.yaml                 path, names, and one entry per split: train: images/train ...
    <root>/images/<split>/<stem>.jpg
    <root>/labels/<split>/<stem>.txt one line per box: class_id cx cy w h (normalised 0..1)

A missing or empty label file means the image holds none of the classes (a background image).
An *unsplit* dataset (what the importers write) keeps its files in ``images/`` and ``labels/`` directly
and has no split entries in ``data.yaml``; ``datasets split`` turns it into train/val/test.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import yaml

DATA_YAML = "data.yaml"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SPLITS = ("train", "val", "test")
UNSPLIT = "all"  # the pseudo split of an unsplit dataset


class DatasetError(ValueError):
    """A dataset that cannot be read; the message names the file and, where there is one, the field or line."""


@dataclass(frozen=True)
class YoloBox:
    """One label line: class id and a box as centre x, centre y, width, height, normalised to 0..1."""

    class_id: int
    cx: float
    cy: float
    w: float
    h: float

    @classmethod
    def from_xyxy(cls, class_id: int, xyxy: Sequence[float], width: int, height: int) -> "YoloBox":
        """From pixel corners, clipped to the image."""
        x1, y1, x2, y2 = (float(v) for v in xyxy)
        x1, x2 = sorted((min(max(x1, 0.0), width), min(max(x2, 0.0), width)))
        y1, y2 = sorted((min(max(y1, 0.0), height), min(max(y2, 0.0), height)))
        return cls(int(class_id), (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)

    def to_xyxy(self, width: int, height: int) -> tuple[float, float, float, float]:
        return ((self.cx - self.w / 2) * width, (self.cy - self.h / 2) * height,
                (self.cx + self.w / 2) * width, (self.cy + self.h / 2) * height)

    def line(self) -> str:
        return f"{self.class_id} {self.cx:.6f} {self.cy:.6f} {self.w:.6f} {self.h:.6f}"


@dataclass
class YoloDataset:
    root: Path
    names: list[str]
    splits: dict[str, Path] = field(default_factory=dict)  # split name -> images folder

    @property
    def yaml_path(self) -> Path:
        return self.root / DATA_YAML

    def images(self, split: str) -> list[Path]:
        return list_images(self.splits[split])

    def all_images(self) -> list[tuple[str, Path]]:
        return [(split, img) for split in self.splits for img in self.images(split)]


def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())


def label_path_for(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` folder in the path becomes ``labels``, the suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    raise DatasetError(f"{image}: an image must sit under an 'images' folder so its label file can be found")


def parse_label_line(text: str, where: str, num_classes: int | None = None) -> YoloBox:
    """One label line; raises DatasetError naming ``where`` (file:line) and the bad field."""
    fields = text.split()
    if len(fields) != 5:
        kind = "a polygon (segmentation) label" if len(fields) > 5 and len(fields) % 2 == 1 else f"{len(fields)} fields"
        raise DatasetError(f"{where}: expected 5 fields 'class cx cy w h', got {kind}")
    try:
        class_id = int(fields[0])
    except ValueError:
        raise DatasetError(f"{where}: field 'class' must be an integer, got {fields[0]!r}") from None
    if class_id < 0 or (num_classes is not None and class_id >= num_classes):
        raise DatasetError(f"{where}: field 'class' is {class_id}, outside 0..{(num_classes or 1) - 1}")
    values = []
    for name, raw in zip(("cx", "cy", "w", "h"), fields[1:]):
        try:
            v = float(raw)
        except ValueError:
            raise DatasetError(f"{where}: field '{name}' must be a number, got {raw!r}") from None
        if not 0.0 <= v <= 1.0:
            raise DatasetError(f"{where}: field '{name}' is {v}, outside 0..1 (boxes are normalised)")
        values.append(v)
    if values[2] <= 0 or values[3] <= 0:
        raise DatasetError(f"{where}: fields 'w' and 'h' must be > 0, got {values[2]} and {values[3]}")
    return YoloBox(class_id, *values)


def read_labels(path: Path, num_classes: int | None = None) -> list[YoloBox]:
    """The boxes of one label file ([] when it does not exist: a background image)."""
    if not path.exists():
        return []
    boxes = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            boxes.append(parse_label_line(line, f"{path}:{n}", num_classes))
    return boxes


def write_labels(path: Path, boxes: Iterable[YoloBox]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [b.line() for b in boxes]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _names_from_yaml(raw: object, where: str) -> list[str]:
    if isinstance(raw, dict):
        try:
            ids = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise DatasetError(f"{where}: field 'names': keys must be class ids 0..n-1") from None
        if ids != list(range(len(ids))):
            raise DatasetError(f"{where}: field 'names': class ids must be 0..{len(ids) - 1} without gaps, got {ids}")
        names = [str(raw[k] if k in raw else raw[str(k)]) for k in ids]
    elif isinstance(raw, list):
        names = [str(n) for n in raw]
    else:
        raise DatasetError(f"{where}: field 'names' must be a list or a mapping of class id to name")
    if not names:
        raise DatasetError(f"{where}: field 'names' is empty")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DatasetError(f"{where}: field 'names' has duplicates: {dupes}")
    return names


def load_dataset(path: str | Path) -> YoloDataset:
    """Read ``data.yaml`` (or the folder holding it). Split entries must name folders of images."""
    path = Path(path)
    yaml_path = path / DATA_YAML if path.is_dir() else path
    if not yaml_path.is_file():
        raise DatasetError(f"{yaml_path}: no such file (a YOLO dataset needs a {DATA_YAML})")
    try:
        data = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise DatasetError(f"{yaml_path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{yaml_path}: the top level must be a mapping")
    if "names" not in data:
        raise DatasetError(f"{yaml_path}: field 'names' is missing")
    names = _names_from_yaml(data["names"], str(yaml_path))
    # like Ultralytics: no `path` -> the YAML's folder; a relative `path` is taken from the YAML's folder here
    # (Ultralytics would try the working directory first: training passes it an absolute copy)
    root = Path(data.get("path") or ".")
    if not root.is_absolute():
        root = (yaml_path.parent / root).resolve()
    splits: dict[str, Path] = {}
    for split in SPLITS:
        entry = data.get(split)
        if entry is None:
            continue
        if not isinstance(entry, str):
            raise DatasetError(f"{yaml_path}: field '{split}' must be one folder (lists are not supported here)")
        folder = Path(entry) if Path(entry).is_absolute() else root / entry
        if folder.suffix == ".txt":
            raise DatasetError(f"{yaml_path}: field '{split}': image list files are not supported; give a folder")
        if not folder.is_dir():
            raise DatasetError(f"{yaml_path}: field '{split}': folder {folder} does not exist")
        splits[split] = folder
    if not splits:
        folder = root / "images"
        if not folder.is_dir():
            raise DatasetError(f"{yaml_path}: no split entries (train/val/test) and no images/ folder")
        splits[UNSPLIT] = folder
    return YoloDataset(root, names, splits)


def write_data_yaml(root: Path, names: Sequence[str], splits: Sequence[str] = SPLITS, **extra: object) -> Path:
    """Write ``root/data.yaml``. No ``path`` entry: Ultralytics then takes the YAML's folder as the root,
    so the dataset folder can be moved or copied as a whole."""
    data: dict[str, object] = {}
    for split in splits:
        if split != UNSPLIT:
            data[split] = f"images/{split}"
    data["names"] = {i: n for i, n in enumerate(names)}
    data.update(extra)
    root.mkdir(parents=True, exist_ok=True)
    out = root / DATA_YAML
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def split_dirs(root: Path, split: str) -> tuple[Path, Path]:
    """(images folder, labels folder) of ``split`` in a dataset written by these tools."""
    if split == UNSPLIT:
        return root / "images", root / "labels"
    return root / "images" / split, root / "labels" / split


def place_file(src: Path, dst: Path) -> None:
    """Hard-link when possible (same file system, no copy), else copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    from PIL import Image

    with Image.open(path) as im:
        return im.size
