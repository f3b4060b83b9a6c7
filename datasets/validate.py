"""Check a YOLO dataset before training on it: every problem is reported with its file (and line).

Errors make Ultralytics fail or learn from wrong data (unreadable images, malformed label lines, class ids
out of range, boxes outside the image); warnings are legal but suspicious (duplicate boxes, label files
without an image, the same image in two splits, a class with no instance in a split, no val split).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from common.hashing import sha256_file
from datasets.yolo import (
    IMAGE_EXTS,
    UNSPLIT,
    DatasetError,
    image_size,
    label_path_for,
    load_dataset,
    parse_label_line,
)

EDGE_TOLERANCE = 0.01  # a box may poke this far (normalised) past the image edge before it is an error


@dataclass
class ValidationReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)
    instances: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {"ok": self.ok, "errors": self.errors, "warnings": self.warnings,
                "images": self.images, "instances": self.instances}


def validate_dataset(path: str | Path, check_pixels: bool = True, require_splits: bool = False) -> ValidationReport:
    """Validate the dataset at ``path`` (data.yaml or its folder). ``check_pixels`` decodes every image
    (slower, catches truncated files); otherwise only headers are read."""
    report = ValidationReport()
    try:
        ds = load_dataset(path)
    except DatasetError as err:
        report.errors.append(str(err))
        return report
    if require_splits:
        for split in ("train", "val"):
            if split not in ds.splits:
                report.errors.append(f"{ds.yaml_path}: field '{split}' is missing (run `streetsight datasets split`)")
    elif UNSPLIT in ds.splits:
        report.warnings.append(f"{ds.yaml_path}: unsplit dataset (no train/val); run `streetsight datasets split`")
    elif "val" not in ds.splits:
        report.warnings.append(f"{ds.yaml_path}: no 'val' split")

    seen_hashes: dict[str, tuple[str, Path]] = {}
    for split, folder in ds.splits.items():
        counts = defaultdict(int)
        images = ds.images(split)
        report.images[split] = len(images)
        if not images:
            report.errors.append(f"{folder}: split '{split}' has no images")
        for image in images:
            _check_image(image, check_pixels, report)
            digest = sha256_file(image).sha256
            if digest in seen_hashes and seen_hashes[digest][0] != split:
                report.warnings.append(f"{image}: the same image is in split '{seen_hashes[digest][0]}' "
                                       f"({seen_hashes[digest][1]}): held-out figures would be inflated")
            seen_hashes.setdefault(digest, (split, image))
            for b in _check_labels(label_path_for(image), len(ds.names), report):
                counts[ds.names[b]] += 1
        report.instances[split] = {n: counts.get(n, 0) for n in ds.names}
        _check_orphans(folder, split, report)
    for split in ("val", "test"):
        if split in report.instances:
            missing = [n for n, c in report.instances[split].items() if c == 0]
            if missing:
                report.warnings.append(f"split '{split}' has no instance of {missing}: no figure for them")
    return report


def _check_image(image: Path, check_pixels: bool, report: ValidationReport) -> None:
    try:
        w, h = image_size(image)
    except Exception as err:  # PIL raises many types for a bad file
        report.errors.append(f"{image}: not a readable image ({type(err).__name__}: {err})")
        return
    if w < 8 or h < 8:
        report.errors.append(f"{image}: image is {w}x{h}, too small to train on")
    if check_pixels:
        import cv2

        if cv2.imread(str(image), cv2.IMREAD_COLOR) is None:
            report.errors.append(f"{image}: image data cannot be decoded (truncated or corrupt)")


def _check_labels(label: Path, num_classes: int, report: ValidationReport) -> list[int]:
    if not label.exists():
        return []
    classes: list[int] = []
    seen: set[str] = set()
    for n, line in enumerate(label.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{label}:{n}"
        try:
            box = parse_label_line(line, where, num_classes)
        except DatasetError as err:
            report.errors.append(str(err))
            continue
        for edge, value in (("left", box.cx - box.w / 2), ("top", box.cy - box.h / 2)):
            if value < -EDGE_TOLERANCE:
                report.errors.append(f"{where}: box extends past the {edge} edge ({value:.3f})")
        for edge, value in (("right", box.cx + box.w / 2), ("bottom", box.cy + box.h / 2)):
            if value > 1 + EDGE_TOLERANCE:
                report.errors.append(f"{where}: box extends past the {edge} edge ({value:.3f})")
        key = " ".join(line.split())
        if key in seen:
            report.warnings.append(f"{where}: duplicate box")
        seen.add(key)
        classes.append(box.class_id)
    return classes


def _check_orphans(images_folder: Path, split: str, report: ValidationReport) -> None:
    labels_folder = label_path_for(images_folder / "x.jpg").parent
    if not labels_folder.is_dir():
        return
    for label in labels_folder.rglob("*.txt"):
        rel = label.relative_to(labels_folder).with_suffix("")
        if split == UNSPLIT and rel.parts and rel.parts[0] in ("train", "val", "test"):
            continue
        if not any((images_folder / rel).with_suffix(ext).exists() for ext in IMAGE_EXTS + tuple(e.upper() for e in IMAGE_EXTS)):
            report.warnings.append(f"{label}: label file without an image")
