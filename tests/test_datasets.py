"""YOLO dataset tools: label format, validate, split, stats, merge, and their CLI."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from datasets.manifest import content_hash, read_manifest
from datasets.merge import merge_datasets
from datasets.split import split_dataset
from datasets.stats import dataset_stats
from datasets.validate import validate_dataset
from datasets.yolo import (
    DatasetError,
    YoloBox,
    label_path_for,
    load_dataset,
    parse_label_line,
    read_labels,
    write_data_yaml,
    write_labels,
)
from streetsight.cli import main as cli


def make_dataset(root: Path, names: list[str], items: dict[str, list[tuple[str, list[YoloBox]]]],
                 size: tuple[int, int] = (64, 48)) -> Path:
    """items: split -> [(stem, boxes)]; each image a distinct flat colour (so files differ)."""
    for split, entries in items.items():
        for stem, boxes in entries:
            img = np.full((size[1], size[0], 3), (hash(stem) % 200) + 20, np.uint8)
            img[0, 0] = [len(stem), 7, hash(split) % 255]
            folder = root / "images" / split if split != "all" else root / "images"
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{stem}.png"), img)
            write_labels(label_path_for(folder / f"{stem}.png"), boxes)
    write_data_yaml(root, names, list(items))
    return root


def box(c: int, cx: float = 0.5, cy: float = 0.5, w: float = 0.2, h: float = 0.2) -> YoloBox:
    return YoloBox(c, cx, cy, w, h)


# -- format ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("line, field", [
    ("0 0.5 0.5 0.2", "expected 5 fields"),
    ("0 0.1 0.1 0.2 0.1 0.3 0.3", "polygon"),
    ("x 0.5 0.5 0.2 0.2", "field 'class'"),
    ("7 0.5 0.5 0.2 0.2", "field 'class' is 7, outside 0..2"),
    ("1 1.5 0.5 0.2 0.2", "field 'cx' is 1.5"),
    ("1 0.5 0.5 0 0.2", "fields 'w' and 'h' must be > 0"),
    ("1 0.5 0.5 abc 0.2", "field 'w' must be a number"),
])
def test_bad_label_lines_name_the_field(line: str, field: str) -> None:
    with pytest.raises(DatasetError, match=field) as err:
        parse_label_line(line, "a.txt:3", num_classes=3)
    assert "a.txt:3" in str(err.value)


def test_box_round_trip_and_clipping() -> None:
    b = YoloBox.from_xyxy(2, (-10, 20, 50, 130), 100, 100)  # clipped to the 100x100 image
    assert b.class_id == 2
    assert b.to_xyxy(100, 100) == pytest.approx((0, 20, 50, 100))
    assert parse_label_line(b.line(), "x") == pytest.approx(b)


def test_load_dataset_reads_mapping_and_list_names(tmp_path: Path) -> None:
    make_dataset(tmp_path / "a", ["bin", "bag"], {"train": [("a1", [box(0)])], "val": [("a2", [])]})
    ds = load_dataset(tmp_path / "a")
    assert ds.names == ["bin", "bag"] and set(ds.splits) == {"train", "val"}
    assert "path" not in yaml.safe_load((tmp_path / "a" / "data.yaml").read_text())  # Ultralytics: the YAML's folder
    (tmp_path / "a" / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [bin, bin]\n")
    with pytest.raises(DatasetError, match="field 'names' has duplicates"):
        load_dataset(tmp_path / "a")
    (tmp_path / "a" / "data.yaml").write_text("train: images/nope\nnames: [bin]\n")
    with pytest.raises(DatasetError, match="field 'train'.*does not exist"):
        load_dataset(tmp_path / "a")


# -- validate -------------------------------------------------------------------------------------

def test_validate_clean_dataset_is_ok(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ok", ["bin", "bag"], {
        "train": [("t1", [box(0), box(1, 0.2, 0.2, 0.1, 0.1)]), ("t2", [])],
        "val": [("v1", [box(0)]), ("v2", [box(1)])]})
    report = validate_dataset(root, require_splits=True)
    assert report.ok, report.errors
    assert report.images == {"train": 2, "val": 2}
    assert report.instances["train"] == {"bin": 1, "bag": 1}


def test_validate_reports_every_problem_with_its_file(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "bad", ["bin", "bag"], {
        "train": [("t1", [box(0)]), ("t2", [box(1)]), ("t3", [])], "val": [("v1", [box(0)])]})
    labels = root / "labels" / "train"
    (labels / "t1.txt").write_text("0 0.5 0.5 0.2 0.2\n5 0.5 0.5 0.2 0.2\n0 0.95 0.5 0.3 0.2\n0 0.5 0.5 0.2 0.2\n")
    (root / "images" / "train" / "t3.png").write_bytes(b"not an image")
    (labels / "ghost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    # the same picture in train and val: held-out figures would lie
    (root / "images" / "val" / "dup.png").write_bytes((root / "images" / "train" / "t2.png").read_bytes())
    report = validate_dataset(root)
    text = "\n".join(report.errors)
    assert f"{labels / 't1.txt'}:2: field 'class' is 5" in text
    assert f"{labels / 't1.txt'}:3: box extends past the right edge" in text
    assert "t3.png: not a readable image" in text
    warnings = "\n".join(report.warnings)
    assert f"{labels / 't1.txt'}:4: duplicate box" in warnings
    assert "ghost.txt: label file without an image" in warnings
    assert "dup.png: the same image is in split 'train'" in warnings
    assert not report.ok
    assert cli(["datasets", "validate", str(root)]) == 1


def test_validate_cli_ok_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = make_dataset(tmp_path / "ok", ["bin"], {"train": [("t1", [box(0)])], "val": [("v1", [box(0)])]})
    assert cli(["datasets", "validate", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert cli(["datasets", "validate", str(tmp_path / "missing")]) == 1


# -- split ----------------------------------------------------------------------------------------

def _grouped_unsplit(root: Path) -> Path:
    items = []
    for cam in range(10):
        for f in range(4):
            cls = [box(0)] if cam % 2 == 0 else [box(1)]
            if cam == 9:
                cls = [box(2)]  # a rare class, one camera only
            items.append((f"cam{cam}_f{f:03d}", cls if f < 3 else []))
    return make_dataset(root, ["bin", "bag", "stall"], {"all": items})


def test_split_keeps_groups_together_and_is_reproducible(tmp_path: Path) -> None:
    src = _grouped_unsplit(tmp_path / "src")
    m1 = split_dataset(src, tmp_path / "s1", (0.6, 0.2, 0.2), seed=3, group_pattern=r"^(cam\d+)_")
    m2 = split_dataset(src, tmp_path / "s2", (0.6, 0.2, 0.2), seed=3, group_pattern=r"^(cam\d+)_")
    assert m1["content_sha256"] == m2["content_sha256"]
    ds = load_dataset(tmp_path / "s1")
    where: dict[str, set[str]] = {}
    for split, img in ds.all_images():
        where.setdefault(img.stem.split("_")[0], set()).add(split)
    assert all(len(s) == 1 for s in where.values()), where  # no camera in two splits
    assert sum(m1["splits"][s]["images"] for s in ("train", "val", "test")) == 40
    for split in ("train", "val", "test"):  # the common classes reach every split
        assert m1["splits"][split]["instances"]["bin"] > 0 and m1["splits"][split]["instances"]["bag"] > 0
    assert m1["parents"][0]["content_sha256"] == content_hash(src)
    # labels travel with their images
    for split, img in ds.all_images():
        original = src / "labels" / f"{img.stem}.txt"
        assert label_path_for(img).read_text() == original.read_text()
    with pytest.raises(DatasetError, match="not empty"):
        split_dataset(src, tmp_path / "s1")


def test_split_ratios_are_checked(tmp_path: Path) -> None:
    src = _grouped_unsplit(tmp_path / "src")
    assert cli(["datasets", "split", str(src), str(tmp_path / "x"), "--ratios", "0.5,0.1"]) == 2
    assert cli(["datasets", "split", str(src), str(tmp_path / "y"), "--ratios", "0.8,0.2,0",
                "--group", r"^(cam\d+)_"]) == 0
    assert set(load_dataset(tmp_path / "y").splits) == {"train", "val"}


# -- stats ----------------------------------------------------------------------------------------

def test_stats_counts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = make_dataset(tmp_path / "d", ["bin", "bag"], {
        "train": [("t1", [box(0, w=0.8, h=1.0), box(0, w=0.05, h=0.05)]), ("t2", [])],
        "val": [("v1", [box(1)])]}, size=(200, 100))
    s = dataset_stats(root)
    assert s["splits"]["train"] == {"images": 2, "backgrounds": 1, "instances": {"bin": 2, "bag": 0},
                                    "images_with_class": {"bin": 1, "bag": 0}, "resolutions": {"200x100": 2}}
    assert s["box_sizes"]["bin"]["small"] == 1 and s["box_sizes"]["bin"]["large"] == 1  # 10x5 px and 160x100 px
    assert cli(["datasets", "stats", str(root)]) == 0
    assert "backgrounds" in capsys.readouterr().out


# -- merge ----------------------------------------------------------------------------------------

def test_merge_unifies_classes_by_name(tmp_path: Path) -> None:
    a = make_dataset(tmp_path / "a", ["bin", "trash_bag"], {
        "train": [("img1", [box(0), box(1)])], "val": [("img2", [box(1)])]})
    b = make_dataset(tmp_path / "b", ["garbage_bag", "car", "bin"], {
        "train": [("img1", [box(0), box(1), box(2)])], "test": [("img3", [box(2)])]})
    m = merge_datasets([a, b], tmp_path / "m", rename={"trash_bag": "garbage_bag", "car": None})
    ds = load_dataset(tmp_path / "m")
    assert ds.names == ["bin", "garbage_bag"]
    assert set(ds.splits) == {"train", "val", "test"}
    named = {img.name: sorted(ds.names[b.class_id] for b in read_labels(label_path_for(img)))
             for _, img in ds.all_images()}
    assert named == {"img1.png": ["bin", "garbage_bag"], "img2.png": ["garbage_bag"],
                     "b__img1.png": ["bin", "garbage_bag"],  # the clash got its source's tag; the car is gone
                     "img3.png": ["bin"]}
    assert [p["content_sha256"] for p in m["parents"]] == [content_hash(a), content_hash(b)]
    assert read_manifest(tmp_path / "m")["splits"]["train"]["instances"] == {"bin": 2, "garbage_bag": 2}
    with pytest.raises(DatasetError, match="class 'car' is not in the merged names"):
        merge_datasets([b], tmp_path / "m2", names=["bin", "garbage_bag"])
