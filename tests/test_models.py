"""models/: the registered NanoDet detector against an independent reference, manifests and the registry."""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from models import ManifestError, ModelNotFound, OnnxDetector, list_models, load_manifest, register_model
from models.manifest import load_manifest_file
from models.registry import BUILTIN_DIR, ENV_DIRS, find_model

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "nanodet_reference.json").read_text())
MODEL_DIR = BUILTIN_DIR / "nanodet-coco"


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def detector() -> OnnxDetector:
    return OnnxDetector.from_registry("nanodet-coco", threads=2, min_score=0.3, iou_threshold=0.5)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    data = (DATA / REFERENCE["image"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == REFERENCE["image_sha256"], "test image differs from the reference's"
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_manifest_sha256_matches_committed_file() -> None:
    manifest = load_manifest_file(MODEL_DIR / "manifest.json")
    assert hashlib.sha256((MODEL_DIR / manifest.file).read_bytes()).hexdigest() == manifest.sha256
    assert REFERENCE["onnx_sha256"] == manifest.sha256, "reference was made with another ONNX file"


def test_manifest_describes_the_graph() -> None:
    m = load_manifest("nanodet-coco")
    assert (m.task, m.decoder, m.input.layout, m.input.color_order, m.input.resize) == \
        ("detect", "nanodet", "NCHW", "BGR", "stretch")
    assert len(m.class_names) == 80 and m.class_names[0] == "person" and m.class_names[7] == "truck"
    s = ort.InferenceSession(str(MODEL_DIR / m.file), providers=["CPUExecutionProvider"])
    (inp,) = s.get_inputs()
    assert inp.name == m.input.name and inp.shape[1:] == [3, m.input.height, m.input.width]
    assert not isinstance(inp.shape[0], int), "batch dimension should be dynamic"
    shapes = {o.name: o.shape[1:] for o in s.get_outputs()}
    for stride, score, box in zip(m.decoder_params["strides"], m.decoder_params["score_outputs"],
                                  m.decoder_params["box_outputs"]):
        n = (416 // stride) ** 2
        assert shapes[score] == [n, 80] and shapes[box] == [n, 44]


def test_reproduces_independent_reference(detector: OnnxDetector, frame: np.ndarray) -> None:
    (ours,) = detector.detect([frame])
    assert frame.shape[1::-1] == tuple(REFERENCE["image_size"])
    margin = 0.35  # compare away from the 0.3 threshold, where a 0.01 score shift may add or drop a box
    ref = [d for d in REFERENCE["detections"] if d["score"] >= margin]
    assert len(ref) >= 10
    for d in ref:
        same = np.nonzero(ours.class_ids == d["class_id"])[0]
        assert same.size, f"no {d['class_name']} found, reference has one at {d['xyxy']}"
        ious = [iou(ours.xyxy[i], np.array(d["xyxy"])) for i in same]
        best = same[int(np.argmax(ious))]
        assert max(ious) > 0.9, (d, ours.xyxy[best])
        assert abs(float(ours.scores[best]) - d["score"]) < 0.02, (d, ours.scores[best])
    # and nothing confident that the reference does not have
    for box, score, cls in zip(ours.xyxy, ours.scores, ours.class_ids):
        if score >= margin:
            assert any(d["class_id"] == cls and iou(box, np.array(d["xyxy"])) > 0.9
                       for d in REFERENCE["detections"]), (detector.class_names[cls], score, box)


def test_finds_parked_van_and_pedestrians(detector: OnnxDetector, frame: np.ndarray) -> None:
    (r,) = detector.detect([frame])
    names = [detector.class_names[c] for c in r.class_ids]
    van = np.array([651, 43, 725, 98])  # the white van, top right, in original pixels
    vans = [(s, b) for n, s, b in zip(names, r.scores, r.xyxy) if n in ("truck", "car") and iou(b, van) > 0.8]
    assert vans and 0.45 < max(s for s, _ in vans) < 0.7
    assert sum(1 for n, s in zip(names, r.scores) if n == "person" and s > 0.5) >= 5
    assert r.xyxy.dtype == np.float32 and r.scores.dtype == np.float32 and r.class_ids.dtype == np.int64
    assert (r.xyxy[:, 0] >= 0).all() and (r.xyxy[:, 2] <= frame.shape[1]).all()
    assert (r.xyxy[:, 1] >= 0).all() and (r.xyxy[:, 3] <= frame.shape[0]).all()


def test_batch_equals_single_calls(detector: OnnxDetector, frame: np.ndarray) -> None:
    images = [frame, cv2.flip(frame, 1), np.ascontiguousarray(frame[100:460, 50:690])]
    batched = detector.detect(images)
    assert len(batched) == 3 and detector.dynamic_batch
    for img, b in zip(images, batched):
        (single,) = detector.detect([img])
        assert len(single) == len(b) > 0
        np.testing.assert_allclose(b.xyxy, single.xyxy, atol=1e-3)
        np.testing.assert_allclose(b.scores, single.scores, atol=1e-5)
        np.testing.assert_array_equal(b.class_ids, single.class_ids)
    assert len(batched[0]) != len(batched[2]) or not np.allclose(batched[0].xyxy, batched[2].xyxy)


def test_rejects_non_bgr_image(detector: OnnxDetector) -> None:
    with pytest.raises(ValueError, match="BGR uint8"):
        detector.detect([np.zeros((100, 100), np.uint8)])
    assert detector.detect([]) == []


def test_provider_falls_back_to_cpu_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="models")
    det = OnnxDetector.from_registry("nanodet-coco", providers=["NoSuchExecutionProvider"], threads=1)
    assert det.provider == "CPUExecutionProvider"
    lines = [r.getMessage() for r in caplog.records if r.name == "models"]
    assert len(lines) == 1
    assert "runs on CPUExecutionProvider" in lines[0] and "NoSuchExecutionProvider" in lines[0]


def _manifest_dict() -> dict:
    return json.loads((MODEL_DIR / "manifest.json").read_text())


@pytest.mark.parametrize("change, field", [
    (lambda m: m["input"].update(mean=[1.0, 2.0]), "input.mean"),
    (lambda m: m.pop("class_names"), "class_names"),
    (lambda m: m.update(decoder="ssd"), "decoder"),
    (lambda m: m["input"].update(std=[1.0, 0.0, 1.0]), "input.std"),
    (lambda m: m.update(sha256="abc"), "sha256"),
])
def test_broken_manifest_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change, field: str) -> None:
    m = _manifest_dict()
    change(m)
    d = tmp_path / "nanodet-coco"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps(m))
    monkeypatch.setenv(ENV_DIRS, str(tmp_path))
    with pytest.raises(ManifestError, match=f"field '{field}") as err:
        find_model("nanodet-coco")
    assert str(d / "manifest.json") in str(err.value)


def test_manifest_that_is_not_json(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{name: nanodet")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest_file(tmp_path / "manifest.json")


def test_register_and_find_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fields = _manifest_dict()
    fields["name"] = "nanodet-copy"
    entry = register_model(MODEL_DIR / "model.onnx", fields, tmp_path / "trained")
    assert entry.model_path == tmp_path / "trained" / "nanodet-copy" / "model.onnx"
    manifest_mode = (tmp_path / "trained" / "nanodet-copy" / "manifest.json").stat().st_mode & 0o777
    assert manifest_mode & 0o044 == 0o044  # readable by the serving user, like the model beside it
    with pytest.raises(ModelNotFound):
        find_model("nanodet-copy")
    monkeypatch.setenv(ENV_DIRS, f"{tmp_path / 'nowhere'}:{tmp_path / 'trained'}")
    assert {"nanodet-coco", "nanodet-copy"} <= set(list_models())
    assert load_manifest("nanodet-copy").sha256 == load_manifest("nanodet-coco").sha256
    with pytest.raises(FileExistsError):
        register_model(MODEL_DIR / "model.onnx", fields, tmp_path / "trained")
    # a file that changed after registration is refused
    model = tmp_path / "trained" / "nanodet-copy" / "model.onnx"
    model.write_bytes(model.read_bytes()[:-10])
    with pytest.raises(ManifestError, match="sha256"):
        OnnxDetector.from_registry("nanodet-copy")


def test_register_validates_before_writing(tmp_path: Path) -> None:
    fields = _manifest_dict()
    fields["name"] = "Bad Name"
    with pytest.raises(ManifestError, match="field 'name'"):
        register_model(MODEL_DIR / "model.onnx", fields, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_input_size_mismatch_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fields = _manifest_dict()
    fields["name"] = "nanodet-wrong"
    fields["input"]["width"] = 320
    register_model(MODEL_DIR / "model.onnx", fields, tmp_path)
    monkeypatch.setenv(ENV_DIRS, str(tmp_path))
    with pytest.raises(ManifestError, match="320x416"):
        OnnxDetector.from_registry("nanodet-wrong")


def test_copy_of_builtin_dir_is_found_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(MODEL_DIR, tmp_path / "nanodet-coco")
    monkeypatch.setenv(ENV_DIRS, str(tmp_path))
    assert find_model("nanodet-coco").directory == tmp_path / "nanodet-coco"
