"""Split a dataset into train/val/test, reproducibly (seeded), by groups, balancing the classes.

Frames of one video, or one camera, look alike: if some go to train and others to test, the held-out figures
flatter the model. ``group_pattern`` (a regular expression on the file stem; its first group, or the whole
match, is the group key) keeps such images together. Groups are assigned rarest class first, each to the
split that lacks most of that class relative to its share, so every split gets its share of rare classes.
"""
from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from datasets.manifest import parent_ref, write_manifest
from datasets.yolo import (
    SPLITS,
    DatasetError,
    label_path_for,
    load_dataset,
    place_file,
    read_labels,
    split_dirs,
    write_data_yaml,
)


def parse_ratios(text: str) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` -> (0.8, 0.1, 0.1); they must be >= 0 and add up to 1."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise DatasetError(f"ratios: {text!r} is not three comma-separated numbers") from None
    if len(values) != 3 or any(v < 0 for v in values) or abs(sum(values) - 1) > 1e-6:
        raise DatasetError(f"ratios: {text!r} must be three numbers >= 0 (train,val,test) adding up to 1")
    return values  # type: ignore[return-value]


def group_key(stem: str, pattern: re.Pattern[str] | None) -> str:
    if pattern is None:
        return stem
    m = pattern.search(stem)
    if m is None:
        return stem
    return m.group(1) if m.groups() else m.group(0)


def assign_groups(groups: dict[str, Counter], ratios: Sequence[float], seed: int) -> dict[str, str]:
    """group key -> split. ``groups`` maps each key to its class counts (Counter of class ids; an empty
    Counter is a group of background images) and its size under the key ``"__images__"``."""
    rng = random.Random(seed)
    keys = sorted(groups)
    rng.shuffle(keys)
    totals: Counter = Counter()
    for c in groups.values():
        totals.update(c)
    have = {s: Counter() for s in SPLITS}
    active = [s for s, r in zip(SPLITS, ratios) if r > 0]
    share = dict(zip(SPLITS, ratios))

    def rarest(key: str) -> float:
        classes = [k for k in groups[key] if k != "__images__"]
        return min((totals[k] for k in classes), default=float("inf"))

    out: dict[str, str] = {}
    for key in sorted(keys, key=rarest):  # stable: ties keep the shuffled order
        classes = [k for k in groups[key] if k != "__images__"]
        target = min(classes, key=lambda k: totals[k]) if classes else "__images__"

        def deficit(split: str) -> tuple[float, float]:
            want = share[split] * totals[target] - have[split][target]
            want_images = share[split] * totals["__images__"] - have[split]["__images__"]
            return (want / max(share[split], 1e-9), want_images)

        split = max(active, key=deficit)
        out[key] = split
        have[split].update(groups[key])
    return out


def split_dataset(src: str | Path, dest: str | Path, ratios: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                  group_pattern: str | None = None, name: str | None = None, version: str = "1") -> dict:
    """Pool every image of ``src`` and write a train/val/test dataset to ``dest``; returns its manifest."""
    ds = load_dataset(src)
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise DatasetError(f"{dest}: destination exists and is not empty (a dataset version is never overwritten)")
    pattern = re.compile(group_pattern) if group_pattern else None
    groups: dict[str, Counter] = defaultdict(Counter)
    members: dict[str, list[Path]] = defaultdict(list)
    for _split, image in ds.all_images():
        key = group_key(image.stem, pattern)
        boxes = read_labels(label_path_for(image), len(ds.names))
        groups[key].update(b.class_id for b in boxes)
        groups[key]["__images__"] += 1
        members[key].append(image)
    stems = Counter(img.stem for imgs in members.values() for img in imgs)
    clashes = [s for s, n in stems.items() if n > 1]
    if clashes:
        raise DatasetError(f"{ds.root}: file names repeat across splits or folders ({clashes[:5]}); rename first")
    assignment = assign_groups(groups, ratios, seed)
    for key, split in assignment.items():
        img_dir, lbl_dir = split_dirs(dest, split)
        for image in members[key]:
            place_file(image, img_dir / image.name)
            label = label_path_for(image)
            (lbl_dir / f"{image.stem}.txt").parent.mkdir(parents=True, exist_ok=True)
            (lbl_dir / f"{image.stem}.txt").write_bytes(label.read_bytes() if label.exists() else b"")
    used = [s for s, r in zip(SPLITS, ratios) if r > 0]
    for split in used:
        split_dirs(dest, split)[0].mkdir(parents=True, exist_ok=True)
        split_dirs(dest, split)[1].mkdir(parents=True, exist_ok=True)
    write_data_yaml(dest, ds.names, used)
    return write_manifest(dest, name=name or dest.name, version=version, tool="datasets.split",
                          params={"ratios": list(ratios), "seed": seed, "group_pattern": group_pattern},
                          parents=[parent_ref(ds.root)])
