"""YOLO (Ultralytics ONNX export) support: a graph built here returns a known `output0`; the detector must
undo the letterbox and return the boxes in original-image pixels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models import OnnxDetector, register_model
from models.decoders.yolo import yolo_manifest_fields
from models.registry import ENV_DIRS

SIZE = 320
CLASSES = ["car", "truck", "person"]

# output0 [1, 4 + nc, N]: columns are anchors; rows cx, cy, w, h (network-input pixels), then scores
ANCHORS = np.array([
    # cx,  cy,   w,   h,  car, truck, person
    [160, 160, 100, 50, 0.05, 0.90, 0.10],  # kept: truck
    [100, 100, 20, 20, 0.10, 0.10, 0.10],  # below min_score
    [162, 161, 100, 52, 0.02, 0.80, 0.00],  # same truck, lower score: removed by NMS
    [165, 158, 96, 48, 0.70, 0.20, 0.00],  # same place, other class: kept
    [300, 250, 60, 40, 0.00, 0.00, 0.60],  # crosses the right edge: clipped
], np.float32)
OUTPUT0 = ANCHORS.T[None]  # [1, 7, 5]


def build_yolo_onnx(path: Path) -> None:
    """images [1,3,S,S] -> output0 = const + 0 * sum(images): the input is used, the output is known."""
    const = numpy_helper.from_array(OUTPUT0, "const")
    nodes = [
        helper.make_node("ReduceSum", ["images", "axes"], ["s"], keepdims=0),  # [1]
        helper.make_node("Mul", ["s", "zero"], ["z"]),
        helper.make_node("Add", ["const", "z"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "fake_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + len(CLASSES), ANCHORS.shape[0]])],
        initializer=[const, numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
                     numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def yolo(tmp_path_factory: pytest.TempPathFactory) -> OnnxDetector:
    root = tmp_path_factory.mktemp("models")
    build_yolo_onnx(root / "fake.onnx")
    register_model(root / "fake.onnx", yolo_manifest_fields("fake-yolo", "1", CLASSES, SIZE), root / "registry")
    mp = pytest.MonkeyPatch()
    mp.setenv(ENV_DIRS, str(root / "registry"))
    try:
        yield OnnxDetector.from_registry("fake-yolo", min_score=0.3, iou_threshold=0.5)
    finally:
        mp.undo()


# (image width, height) -> the expected boxes in original pixels, worked out by hand:
# 640x480: scale 0.5, resized 320x240, padded 40 px top and bottom; x = x'/0.5, y = (y' - 40)/0.5
# 300x600: scale 320/600, resized 160x320, padded 80 px left and right; x = (x' - 80)*600/320, y = y'*600/320
EXPECTED = {
    (640, 480): [("truck", 0.90, [220, 190, 420, 290]),
                 ("car", 0.70, [234, 188, 426, 284]),
                 ("person", 0.60, [540, 380, 640, 460])],  # x2 = 660 clipped to 640
    (300, 600): [("truck", 0.90, [56.25, 253.125, 243.75, 346.875]),
                 ("car", 0.70, [69.375, 251.25, 249.375, 341.25])],
    # the person box lies wholly in the right padding (x 356..469): nothing of it is in the image
}


@pytest.mark.parametrize("size", sorted(EXPECTED))
def test_letterbox_inverse_gives_original_pixels(yolo: OnnxDetector, size: tuple[int, int]) -> None:
    w, h = size
    image = np.full((h, w, 3), 50, np.uint8)
    (r,) = yolo.detect([image])
    got = [(yolo.class_names[c], float(s), b.tolist()) for c, s, b in zip(r.class_ids, r.scores, r.xyxy)]
    assert len(got) == len(EXPECTED[size]), got
    for (name, score, box), (gname, gscore, gbox) in zip(EXPECTED[size], got):
        assert gname == name and gscore == pytest.approx(score, abs=1e-6)
        np.testing.assert_allclose(gbox, box, atol=1e-3)


def test_letterbox_input_is_padded_rgb_scaled(yolo: OnnxDetector) -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    image[:, :] = (10, 20, 30)  # B, G, R
    yolo.detect([image])
    buf = yolo.preprocess.buffer[0]
    assert buf.shape == (3, SIZE, SIZE)
    np.testing.assert_allclose(buf[:, :40, :], 114 / 255, atol=1e-6)  # top border
    np.testing.assert_allclose(buf[:, 280:, :], 114 / 255, atol=1e-6)  # bottom border
    np.testing.assert_allclose(buf[:, 40:280, :].reshape(3, -1).mean(axis=1), [30 / 255, 20 / 255, 10 / 255],
                               atol=1e-6)  # channel 0 is red


def test_static_batch_model_loops(yolo: OnnxDetector) -> None:
    assert not yolo.dynamic_batch
    images = [np.zeros((480, 640, 3), np.uint8), np.zeros((600, 300, 3), np.uint8), np.zeros((480, 640, 3), np.uint8)]
    results = yolo.detect(images)
    assert [len(r) for r in results] == [3, 2, 3]
    np.testing.assert_allclose(results[0].xyxy, results[2].xyxy)
