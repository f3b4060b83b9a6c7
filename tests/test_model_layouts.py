"""Layouts whose exporters we cannot run here (YOLOv5, YOLOX, RF-DETR, Ultralytics' older RT-DETR, TF Object
Detection API): small graphs
with the same inputs and outputs return known rows; the imported model must give the boxes worked out by hand
from each format's definition, in original-image pixels. Also: what is refused, and how it is said."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models import OnnxDetector
from models.class_lists import COCO91
from models.importer import ImportRefused, import_model
from models.layouts import grid_cells
from streetsight.cli import main

# every test image is 128 wide and 64 high, a flat colour with B=10, G=20, R=30
IMAGE = np.dstack([np.full((64, 128), v, np.uint8) for v in (10, 20, 30)])
NAMES = ["car", "truck", "person"]


def const_graph(path: Path, image: tuple[str, int, list], outputs: dict[str, np.ndarray],
                metadata: dict[str, str] | None = None, red_probe: tuple[str, tuple[int, ...]] | None = None) -> Path:
    """Outputs = constants + 0 * sum(input), so the graph really reads its input. `red_probe` (output, index)
    adds mean(channel 0 of an NHWC input) / 100 at that index: 0.30 if the input is fed RGB, 0.10 if BGR."""
    name, elem, shape = image
    nodes = [helper.make_node("Cast", [name], ["xf"], to=TensorProto.FLOAT),
             helper.make_node("ReduceSum", ["xf"], ["s"], keepdims=0),
             helper.make_node("Mul", ["s", "zero"], ["z"])]
    inits = [numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
             numpy_helper.from_array(np.array(100, np.float32), "hundred")]
    outs = []
    for out, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{out}_const"))
        src = f"{out}_const"
        if red_probe and red_probe[0] == out:
            mask = np.zeros(value.shape, np.float32)
            mask[red_probe[1]] = 1
            inits += [numpy_helper.from_array(mask, "mask"), numpy_helper.from_array(np.array([0], np.int64), "c0"),
                      numpy_helper.from_array(np.array([1], np.int64), "c1"),
                      numpy_helper.from_array(np.array([3], np.int64), "ax3")]
            nodes += [helper.make_node("Slice", ["xf", "c0", "c1", "ax3"], ["red"]),
                      helper.make_node("ReduceMean", ["red"], ["rmean"], keepdims=0),
                      helper.make_node("Div", ["rmean", "hundred"], ["rp"]),
                      helper.make_node("Mul", ["mask", "rp"], ["probe"]),
                      helper.make_node("Add", [src, "probe"], [f"{out}_probed"])]
            src = f"{out}_probed"
        nodes.append(helper.make_node("Add", [src, "z"], [out]))
        outs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(nodes, "layout", [helper.make_tensor_value_info(name, elem, shape)], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def detections(tmp_path: Path, onnx_path: Path, **kwargs) -> list[tuple[str, float, list[float]]]:
    result = import_model(onnx_path, "city-model", tmp_path / "registry", IMAGE, **kwargs)
    det = OnnxDetector(result.entry.model_path, result.entry.manifest, min_score=0.2)
    raw = det.detect([IMAGE])[0]
    names = result.entry.manifest.class_names
    return [(names[int(c)], round(float(s), 4), [round(float(v), 2) for v in b])
            for b, s, c in zip(raw.xyxy, raw.scores, raw.class_ids)]


def test_yolov5_rows_with_objectness(tmp_path: Path) -> None:
    rows = np.zeros((1, 3 * grid_cells(64, 64), 5 + len(NAMES)), np.float32)  # 252 rows: 3 anchors per cell
    rows[0, 0] = [32, 32, 20, 10, 0.9, 0.1, 0.8, 0.2]  # truck, 0.9 * 0.8
    rows[0, 1] = [10, 10, 8, 8, 0.15, 0.0, 0.0, 1.0]  # objectness below the threshold: nothing
    path = const_graph(tmp_path / "v5.onnx", ("images", TensorProto.FLOAT, [1, 3, 64, 64]), {"output": rows},
                       {"names": str(dict(enumerate(NAMES)))})
    # letterbox 128x64 -> 64x32 at scale 0.5, 16 px of padding above: x = x' / 0.5, y = (y' - 16) / 0.5
    assert detections(tmp_path, path, licence="AGPL-3.0") == [("truck", 0.72, [44.0, 22.0, 84.0, 42.0])]


def test_yolox_raw_grid_rows(tmp_path: Path) -> None:
    rows = np.zeros((1, grid_cells(64, 64), 5 + len(NAMES)), np.float32)  # 84 rows: one per cell
    # stride-16 grid (4x4) starts after the 8x8 stride-8 cells; column 1, row 1
    rows[0, 64 + 1 * 4 + 1] = [0.5, 0.25, np.log(2.0), 0.0, 0.8, 0.9, 0.1, 0.0]
    path = const_graph(tmp_path / "yolox.onnx", ("images", TensorProto.FLOAT, [1, 3, 64, 64]), {"output": rows})
    # cx = (0.5 + 1) * 16 = 24, cy = (0.25 + 1) * 16 = 20, w = 2 * 16, h = 16 -> (8, 12, 40, 28) in the input;
    # YOLOX pads right and below, so the original is just the input / 0.5
    found = detections(tmp_path, path, classes=NAMES, licence="Apache-2.0")
    assert found == [("car", 0.72, [16.0, 24.0, 80.0, 56.0])]
    manifest = import_model(path, "again", tmp_path / "r2", IMAGE, classes=NAMES, licence="Apache-2.0").entry.manifest
    assert (manifest.input.color_order, manifest.input.resize, manifest.input.std) == ("BGR", "letterbox_topleft",
                                                                                        (1.0, 1.0, 1.0))


def test_rf_detr_boxes_and_logits(tmp_path: Path) -> None:
    dets = np.zeros((1, 5, 4), np.float32)
    logits = np.full((1, 5, 91), -6.0, np.float32)
    dets[0, 0] = [0.5, 0.5, 0.25, 0.5]
    logits[0, 0, 3] = 2.0  # COCO category 3: car, sigmoid(2) = 0.8808
    dets[0, 1] = [0.2, 0.2, 0.1, 0.1]
    logits[0, 1, 1] = -1.0  # person at 0.27
    path = const_graph(tmp_path / "rfdetr.onnx", ("input", TensorProto.FLOAT, [1, 3, 64, 64]),
                       {"dets": dets, "labels": logits})
    # stretched 128x64 -> 64x64: x = x' * 2, y = y'; (32, 32, 16, 32) -> (24, 16, 40, 48) -> x 48..80
    found = detections(tmp_path, path, classes=COCO91, licence="Apache-2.0")
    assert found == [("car", 0.8808, [48.0, 16.0, 80.0, 48.0]), ("person", 0.2689, [19.2, 9.6, 32.0, 16.0])]


def test_older_ultralytics_rt_detr_boxes_and_probabilities_in_one_output(tmp_path: Path) -> None:
    """Ultralytics before 8.4 exported RT-DETR as one [B, Q, 4 + nc] output: normalised cx, cy, w, h, then each
    class's probability (already through the sigmoid); the head is named in the metadata."""
    rows = np.zeros((1, 6, 4 + len(NAMES)), np.float32)
    rows[0, 0] = [0.5, 0.5, 0.25, 0.5, 0.1, 0.85, 0.05]  # truck at 0.85
    rows[0, 1] = [0.2, 0.2, 0.1, 0.1, 0.15, 0.1, 0.05]  # below the detector's 0.2: nothing
    path = const_graph(tmp_path / "rtdetr.onnx", ("images", TensorProto.FLOAT, [1, 3, 64, 64]), {"output0": rows},
                       {"names": str(dict(enumerate(NAMES))), "head": "RTDETRDecoder", "imgsz": "[64, 64]"})
    # stretched 128x64 -> 64x64: (32, 32, 16, 32) in the input -> (24, 16, 40, 48) -> x * 2
    assert detections(tmp_path, path, licence="AGPL-3.0") == [("truck", 0.85, [48.0, 16.0, 80.0, 48.0])]
    manifest = import_model(path, "again", tmp_path / "r2", IMAGE, licence="AGPL-3.0").entry.manifest
    assert manifest.class_names == NAMES and manifest.input.resize == "stretch"


def test_tfod_nhwc_uint8_with_nms_inside(tmp_path: Path) -> None:
    boxes = np.zeros((1, 4, 4), np.float32)
    scores = np.zeros((1, 4), np.float32)
    classes = np.zeros((1, 4), np.float32)
    boxes[0, 0], classes[0, 0] = [0.25, 0.5, 0.75, 1.0], 3  # ymin, xmin, ymax, xmax; car; score = the red probe
    boxes[0, 1], scores[0, 1], classes[0, 1] = [0.0, 0.0, 0.5, 0.5], 0.6, 1  # person
    boxes[0, 2], scores[0, 2], classes[0, 2] = [0.0, 0.0, 1.0, 1.0], 0.9, 1  # past num_detections: not real
    outputs = {"detection_boxes": boxes, "detection_scores": scores, "detection_classes": classes,
               "num_detections": np.array([2], np.float32)}
    path = const_graph(tmp_path / "ssd.onnx", ("input_tensor", TensorProto.UINT8, [1, "h", "w", 3]), outputs,
                       red_probe=("detection_scores", (0, 0)))
    with pytest.raises(ImportRefused, match=r"dynamic height and width .* \(--imgsz\)"):
        import_model(path, "ssd", tmp_path / "r0", IMAGE, classes=COCO91, licence="Apache-2.0")
    found = detections(tmp_path, path, classes=COCO91, licence="Apache-2.0", imgsz=64)
    # 0.30 proves the uint8 input was fed RGB (R=30); stretched 128x64 -> 64x64, fractions of the input
    assert found == [("person", 0.6, [0.0, 0.0, 64.0, 32.0]), ("car", 0.3, [64.0, 16.0, 128.0, 48.0])]


def test_unrecognised_layout_is_refused_with_what_was_found(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = const_graph(tmp_path / "odd.onnx", ("pixels", TensorProto.FLOAT, [1, 3, 64, 64]),
                       {"embedding": np.zeros((1, 10), np.float32)})
    code = main(["models", "import", str(path), "--name", "odd", "--registry", str(tmp_path / "r"),
                 "--classes", "coco80", "--licence", "MIT", "--frame", str(Path(__file__).parent / "data" /
                                                                          "vtest_frame100.jpg")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "output layout not recognised" in err
    assert "pixels float32[1, 3, 64, 64]" in err and "embedding float32[1, 10]" in err
    assert "decoder (one of yolo, yolov5, yolox, end2end, detr, tfod)" in err and "class_names" in err
    assert not (tmp_path / "r" / "odd").exists()


def test_logits_where_probabilities_belong_are_refused(tmp_path: Path) -> None:
    """A YOLO-shaped graph whose class scores are raw logits decodes to scores above 1: not registered."""
    out = np.zeros((1, 4 + len(NAMES), 84), np.float32)
    out[0, :4] = np.array([32, 32, 10, 10], np.float32)[:, None]
    out[0, 4:] = 3.5
    path = const_graph(tmp_path / "logits.onnx", ("images", TensorProto.FLOAT, [1, 3, 64, 64]), {"output0": out})
    with pytest.raises(ImportRefused, match=r"scores range .* not 0\.\.1"):
        import_model(path, "logits", tmp_path / "r", IMAGE, classes=NAMES, licence="MIT")
    assert not (tmp_path / "r" / "logits").exists()


def test_missing_names_and_licence_are_asked_for(tmp_path: Path) -> None:
    out = np.zeros((1, 4 + len(NAMES), 84), np.float32)
    path = const_graph(tmp_path / "bare.onnx", ("images", TensorProto.FLOAT, [1, 3, 64, 64]), {"output0": out})
    with pytest.raises(ImportRefused, match=r"no class names: give them \(--classes FILE\|coco80\|coco91\)"):
        import_model(path, "bare", tmp_path / "r", IMAGE, licence="MIT")
    with pytest.raises(ImportRefused, match=r"names no licence: .*--licence"):
        import_model(path, "bare", tmp_path / "r", IMAGE, classes=NAMES)


def test_dynamic_ultralytics_export_takes_its_size_from_the_metadata() -> None:
    from models.layouts import GraphInfo, Tensor, recognise

    graph = GraphInfo([Tensor("images", ("batch", 3, "height", "width"), "float32")],
                      [Tensor("output0", ("batch", 7, "anchors"), "float32")],
                      {"imgsz": "[320, 480]", "names": "{0: 'car', 1: 'truck', 2: 'person'}"})
    layout = recognise(graph)
    assert (layout.kind, layout.num_classes, layout.class_names) == ("ultralytics-yolo", 3, NAMES)
    assert (layout.input["width"], layout.input["height"], layout.input["dynamic_batch"]) == (480, 320, True)


def test_rows_that_fit_neither_yolov5_nor_yolox_are_refused() -> None:
    from models.layouts import GraphInfo, LayoutNotRecognised, Tensor, recognise

    graph = GraphInfo([Tensor("images", (1, 3, 64, 64), "float32")], [Tensor("out", (1, 100, 8), "float32")])
    with pytest.raises(LayoutNotRecognised, match=r"100 rows match neither YOLOv5's 3 anchors per cell \(252\) "
                                                  r"nor YOLOX's one per cell \(84\) at 64x64"):
        recognise(graph)


def test_half_precision_segmentation_export_decodes_its_boxes(tmp_path: Path) -> None:
    """As a YOLOv8-seg export in float16 (the kind a plate-detector package ships): boxes and the class score
    rows are read, the 32 mask coefficients after them are not taken for classes."""
    out0 = np.zeros((1, 4 + 1 + 32, 84), np.float32)
    out0[0, :5, 0] = [32, 32, 20, 10, 0.8]  # plate
    out0[0, :4, 1] = [10, 10, 8, 8]
    out0[0, 5:, 1] = 0.99  # mask coefficients only: no detection
    path = const_graph(tmp_path / "seg.onnx", ("images", TensorProto.FLOAT16, [1, 3, 64, 64]),
                       {"output0": out0, "output1": np.zeros((1, 32, 16, 16), np.float32)},
                       {"task": "segment", "names": "{0: 'plate'}", "license": "AGPL-3.0 https://ultralytics.com/license"})
    assert detections(tmp_path, path) == [("plate", 0.8, [44.0, 22.0, 84.0, 42.0])]
