"""`streetsight models import` on real Ultralytics exports (tests/data/layouts, made by
models/conversion/make_layout_fixtures.py with Ultralytics' own exporter): each layout is recognised from the
file alone, its class names come from the ONNX metadata, and our decoding agrees with Ultralytics' own
predictor on the vtest frame (the reference JSON beside each file)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from models import OnnxDetector
from models.importer import ImportRefused, import_model
from models.layouts import read_graph, recognise
from models.manifest import load_manifest_file
from common.hashing import sha256_file
from models.registry import ENV_DIRS, find_model
from streetsight.cli import main

DATA = Path(__file__).parent / "data"
LAYOUTS = DATA / "layouts"
FRAME = DATA / "vtest_frame100.jpg"  # the frame the references were made on
# export -> (layout, decoder, our NMS IoU as Ultralytics' postprocessing: none for NMS-free heads)
EXPORTS = {
    "yolov8": ("ultralytics-yolo", "yolo", 0.7),
    "yolo11": ("ultralytics-yolo", "yolo", 0.7),
    "yolov10": ("end2end", "end2end", 1.0),
    "yolo26": ("end2end", "end2end", 1.0),
    "rtdetr": ("rtdetr", "end2end", 1.0),
}
NAMES = ["tricycle", "car", "person", "parasol", "bin"]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / max((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return cv2.imread(str(FRAME), cv2.IMREAD_COLOR)


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_layout_recognised_from_the_file_alone(export: str) -> None:
    layout = recognise(read_graph(LAYOUTS / f"{export}.onnx"))
    kind, decoder, _ = EXPORTS[export]
    assert (layout.kind, layout.decoder) == (kind, decoder)
    assert layout.class_names == NAMES  # from the metadata's `names`
    assert (layout.input["width"], layout.input["height"], layout.input["color_order"]) == (128, 128, "RGB")


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_import_decodes_like_ultralytics(export: str, frame: np.ndarray, tmp_path: Path) -> None:
    reference = json.loads((LAYOUTS / f"{export}.reference.json").read_text())
    result = import_model(LAYOUTS / f"{export}.onnx", f"city-{export}", tmp_path, frame)
    manifest = load_manifest_file(result.entry.directory / "manifest.json")
    assert manifest.class_names == NAMES and manifest.license.model == "AGPL-3.0"
    assert manifest.sha256 == sha256_file(LAYOUTS / f"{export}.onnx").sha256
    det = OnnxDetector(result.entry.model_path, manifest, min_score=reference["conf"],
                       iou_threshold=EXPORTS[export][2], max_detections=len(reference["scores"]))
    ours = det.detect([frame])[0]
    ref_boxes, ref_scores = np.array(reference["boxes"]), np.array(reference["scores"])
    assert len(ref_scores) >= 10 and ref_scores.max() > 0.3  # a reference worth comparing against
    order = np.argsort(-ref_scores)[:15]
    for i in order:  # every strong reference box is found by us: same class, same place, same score
        same = [j for j in range(len(ours)) if ours.class_ids[j] == reference["classes"][i]
                and iou(ours.xyxy[j], ref_boxes[i]) > 0.98]
        assert same, f"reference box {i} ({NAMES[reference['classes'][i]]} {ref_scores[i]:.3f}) not found"
        assert min(abs(float(ours.scores[j]) - ref_scores[i]) for j in same) < 2e-3


def test_cli_import_names_from_metadata_on_the_vtest_video(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """One command, no manifest by hand: the registered model detects with its own class names."""
    video = Path(__file__).resolve().parents[1] / "var" / "samples" / "vtest.mp4"
    if not video.is_file():
        from tests.real_parts import missing_real_part

        missing_real_part(f"{video} (the sample footage: python -m datasets.samples)")
    registry = tmp_path / "registry"
    monkeypatch.setenv(ENV_DIRS, str(registry))
    assert main(["models", "import", str(LAYOUTS / "yolo11.onnx"), "--name", "city-yolo11"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["layout"] == "ultralytics-yolo" and out["directory"] == str(registry / "city-yolo11")
    assert out["sample_frame"], "the livened random weights find something on a street frame"
    assert {d["class"] for d in out["sample_frame"]} <= set(NAMES)
    entry = find_model("city-yolo11")  # found through the registry search path, as serving finds it
    assert entry.manifest.source["layout"] == "ultralytics-yolo"
    assert main(["detect", str(FRAME), "--model", "city-yolo11", "--json"]) == 0
    detections = json.loads(capsys.readouterr().out)[0]["detections"]
    assert detections and {d["class"] for d in detections} <= set(NAMES)


def test_cli_refuses_existing_name_and_bad_classes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["models", "import", str(LAYOUTS / "yolov8.onnx"), "--name", "dup", "--registry", str(tmp_path),
            "--frame", str(FRAME)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert "already holds a model named 'dup'" in capsys.readouterr().err
    assert main(args + ["--force", "--classes", "coco80"]) == 2  # 80 names for 5 scored classes
    err = capsys.readouterr().err
    assert "80 class names, but the ultralytics-yolo outputs score 5 classes" in err and len(err.splitlines()) == 1
    assert main(args + ["--force", "--licence", "not a licence"]) == 2
    assert "not an SPDX identifier" in capsys.readouterr().err


def test_classes_file_overrides_metadata(tmp_path: Path, frame: np.ndarray) -> None:
    names = ["sanlunche", "qiche", "xingren", "yangsan", "lajitong"]
    result = import_model(LAYOUTS / "yolov10.onnx", "renamed", tmp_path, frame, classes=names, licence="Apache-2.0")
    assert result.entry.manifest.class_names == names and result.entry.manifest.license.model == "Apache-2.0"
    with pytest.raises(ImportRefused, match="3 class names, but"):
        import_model(LAYOUTS / "yolov8.onnx", "short", tmp_path, frame, classes=names[:3])
