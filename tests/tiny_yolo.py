"""A tiny YOLO-format ONNX graph with dynamic batch, height and width, for tests that need a real
onnxruntime model but not its cost: ``output0`` [B, 4 + nc, N] is a constant per image (the input is used,
so onnxruntime runs a real graph on the real batch)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models import register_model
from models.decoders.yolo import yolo_manifest_fields

CLASSES = ["car", "truck", "person"]
# one anchor per column: cx, cy, w, h (network-input pixels), then a score per class
ANCHORS = np.array([[160, 120, 100, 50, 0.05, 0.90, 0.10]], np.float32)


def build_tiny_yolo(path: Path, anchors: np.ndarray = ANCHORS) -> Path:
    const = numpy_helper.from_array(anchors.T[None].astype(np.float32), "const")  # [1, 4 + nc, N]
    nodes = [
        helper.make_node("ReduceSum", ["images", "axes"], ["s"], keepdims=1),  # [B, 1, 1, 1]
        helper.make_node("Squeeze", ["s", "last"], ["s3"]),  # [B, 1, 1]
        helper.make_node("Mul", ["s3", "zero"], ["z"]),
        helper.make_node("Add", ["const", "z"], ["output0"]),  # [B, 4 + nc, N]
    ]
    graph = helper.make_graph(
        nodes, "tiny_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", anchors.shape[1], anchors.shape[0]])],
        initializer=[const, numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
                     numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
                     numpy_helper.from_array(np.array([3], np.int64), "last")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def register_tiny_yolo(folder: Path, name: str = "tiny-yolo", size: int = 320) -> Path:
    """Build and register the graph under ``folder/registry``; returns the registry folder."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = build_tiny_yolo(folder / "tiny.onnx")
    fields = yolo_manifest_fields(name, "1", CLASSES, size, license_model="Apache-2.0")
    fields["input"]["dynamic_batch"] = True
    register_model(onnx_path, fields, folder / "registry", overwrite=True)
    return folder / "registry"
