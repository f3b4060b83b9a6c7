"""Synthetic street scenes: every class drawn, labels where the pixels are, occlusion and splits honest."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets.manifest import read_manifest
from datasets.synthetic import CLASSES
from datasets.synthetic.compose import Scene, SceneOptions
from datasets.validate import validate_dataset
from datasets.yolo import load_dataset
from streetsight.cli import main as cli
from tests.real_parts import missing_real_part

SAMPLES = Path("var/samples")
QUIET = SceneOptions(occlusion=0.0, distractors=0.0, shadows=0.0, defocus=0.0)


def _changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(np.abs(after - before).max(axis=2) > 0.02)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("name", CLASSES)
def test_each_class_is_labelled_where_it_was_drawn(name: str) -> None:
    rng = np.random.default_rng(CLASSES.index(name))
    scene = Scene(np.full((480, 640, 3), 128, np.uint8), rng, QUIET)
    before = scene.img.copy()
    placed = scene.add_object(name, 320, 400)
    assert placed is not None
    (label, (x1, y1, x2, y2)), = scene.labels()
    assert label == name
    cx1, cy1, cx2, cy2 = _changed_box(before, scene.img)
    # the label hugs the drawn pixels (the threshold on coverage can trim a faint anti-aliased edge)
    assert abs(x1 - cx1) <= 2 and abs(y1 - cy1) <= 2 and abs(x2 - cx2) <= 2 and abs(y2 - cy2) <= 2
    assert y2 == pytest.approx(400, abs=12)  # it stands where it was put
    assert 10 < y2 - y1 < 400


def test_nearer_objects_hide_farther_ones() -> None:
    rng = np.random.default_rng(5)
    scene = Scene(np.full((480, 640, 3), 128, np.uint8), rng, QUIET)
    far = scene.add_object("bin", 320, 300)
    alone = far.label()[1]
    scene.add_object("vendor_stall", 300, 330)  # a stall in front of most of the bin
    labels = dict(scene.labels())
    if "bin" in labels:  # partly visible: its box shrinks to what is left
        x1, y1, x2, y2 = labels["bin"]
        assert (x2 - x1) * (y2 - y1) < (alone[2] - alone[0]) * (alone[3] - alone[1])
    assert "vendor_stall" in labels


@pytest.mark.samples
def test_generate_dataset_is_valid_reproducible_and_splits_backgrounds(tmp_path: Path) -> None:
    if not (SAMPLES / "vtest.mp4").exists():
        missing_real_part("sample footage missing: python -m datasets.samples")
    args = ["datasets", "synth", "--count", "20", "--size", "256", "--seed", "4", "--frames-per-video", "20"]
    assert cli([*args, str(tmp_path / "a")]) == 0
    assert cli([*args, str(tmp_path / "b")]) == 0
    a, b = read_manifest(tmp_path / "a"), read_manifest(tmp_path / "b")
    assert a["content_sha256"] == b["content_sha256"]  # same seed, same data
    assert a["classes"] == CLASSES
    assert {s: a["splits"][s]["images"] for s in ("train", "val", "test")} == {"train": 16, "val": 2, "test": 2}
    assert sum(sum(a["splits"][s]["instances"].values()) for s in a["splits"]) >= 20
    report = validate_dataset(tmp_path / "a", require_splits=True)
    assert report.ok, report.errors
    # each split's backgrounds come from its own stretch of the videos
    frames: dict[str, set[str]] = {}
    for split, img in load_dataset(tmp_path / "a").all_images():
        frames.setdefault(split, set()).add(img.stem.split("_", 2)[2])
    assert not (frames["train"] & frames["val"]) and not (frames["train"] & frames["test"])
    assert max(load_dataset(tmp_path / "a").images("train")[0].stat().st_size, 1) > 1000
    assert cli(["datasets", "synth", str(tmp_path / "c"), "--count", "2", "--classes", "unicorn"]) == 2
