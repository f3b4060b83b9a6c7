"""Recognise a detector's ONNX output layout from its inputs, outputs and metadata, and say how to feed it.

Known layouts (the common exports):
- ultralytics-yolo: YOLOv5u/v8/11 `output0` [B, 4 + nc, N] (decoder `yolo`); -seg exports add 32 mask
  coefficients per box (boxes only are used)
- yolov5: YOLOv5/v7 `output` [B, N, 5 + nc] with N = 3 anchors per grid cell (decoder `yolov5`)
- yolox: [B, N, 5 + nc] with N = one anchor per cell of the stride 8/16/32 grids (decoder `yolox`)
- end2end: YOLOv10 / YOLO26 / `nms=True` exports, [B, N, 6] (decoder `end2end`)
- rtdetr: Ultralytics RT-DETR, `output0` [B, K, 6] top-k rows (8.4; decoder `end2end`, cxcywh fractions) or
  [B, Q, 4 + nc] (older; decoder `detr`, probabilities)
- detr: RF-DETR and other DETRs, boxes [B, Q, 4] + logits [B, Q, C] (decoder `detr`, sigmoid)
- tfod: TF Object Detection API / SSD with NMS inside: boxes, scores, classes, count; NHWC uint8 input
Anything else is refused with what was found and the manifest fields that would make it work.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Dim = int | str  # a dimension: its size, or the name of a dynamic one

DECODER_NAMES = ("yolo", "yolov5", "yolox", "end2end", "detr", "tfod")
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)
ULTRALYTICS_INPUT = {"color_order": "RGB", "mean": (0.0, 0.0, 0.0), "std": (255.0, 255.0, 255.0),
                     "resize": "letterbox", "pad_value": 114}


class LayoutNotRecognised(ValueError):
    """The graph is not one of the known layouts; the message says what it has and what a manifest needs."""


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[Dim, ...]
    dtype: str  # numpy name: float32, uint8, int64 ...

    def __str__(self) -> str:
        return f"{self.name} {self.dtype}[{', '.join(str(d) for d in self.shape)}]"

    def dim(self, i: int) -> int | None:
        d = self.shape[i]
        return d if isinstance(d, int) and d > 0 else None


@dataclass(frozen=True)
class GraphInfo:
    inputs: list[Tensor]
    outputs: list[Tensor]
    metadata: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return (f"inputs: {'; '.join(str(t) for t in self.inputs)}; "
                f"outputs: {'; '.join(str(t) for t in self.outputs)}")


@dataclass(frozen=True)
class Layout:
    kind: str
    decoder: str
    decoder_params: dict[str, Any]
    input: dict[str, Any]  # InputSpec fields
    num_classes: int | None  # None when the outputs do not fix it (end2end, tfod)
    class_names: list[str] | None  # from the exporter's metadata


_ORT_TYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(float16)": "float16",
              "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(double)": "float64"}


def read_graph(path: str | Path) -> GraphInfo:
    """Inputs, outputs and string metadata of an ONNX file, as onnxruntime sees them."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def tensors(args: list) -> list[Tensor]:
        return [Tensor(a.name, tuple(d if isinstance(d, int) else str(d) for d in a.shape),
                       _ORT_TYPES.get(a.type, a.type)) for a in args]

    meta = dict(session.get_modelmeta().custom_metadata_map)
    return GraphInfo(tensors(session.get_inputs()), tensors(session.get_outputs()), meta)


def metadata_names(meta: dict[str, str]) -> list[str] | None:
    """Class names stored by the exporter: Ultralytics and YOLOv5 write `names` as a Python dict literal."""
    text = meta.get("names")
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
        if sorted(value) != list(range(len(value))):
            return None
        return [str(value[i]) for i in range(len(value))]
    if isinstance(value, (list, tuple)) and value:
        return [str(v) for v in value]
    return None


def metadata_imgsz(meta: dict[str, str]) -> tuple[int, int] | None:
    """(width, height) from Ultralytics' `imgsz` ([h, w] or one number)."""
    try:
        value = ast.literal_eval(meta.get("imgsz", ""))
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[1]), int(value[0])
    return None


def grid_cells(width: int, height: int, strides: tuple[int, ...] = (8, 16, 32)) -> int:
    return sum(math.ceil(width / s) * math.ceil(height / s) for s in strides)


def recognise(graph: GraphInfo, imgsz: int | None = None) -> Layout:
    """The layout of a detector graph; `imgsz` sizes an input whose height and width are dynamic when the
    metadata does not say."""
    meta = graph.metadata
    image, nhwc = _image_input(graph)
    width, height = _input_size(graph, image, nhwc, imgsz)
    names = metadata_names(meta)
    colour = meta.get("color_order", meta.get("colour_order", "")).upper()
    base: dict[str, Any] = {"name": image.name, "width": width, "height": height, "layout": "NHWC" if nhwc else "NCHW",
                            "dynamic_batch": image.dim(0) is None, "dtype": image.dtype}

    def layout(kind: str, decoder: str, params: dict[str, Any], inp: dict[str, Any], nc: int | None) -> Layout:
        spec = {**base, **inp}
        if colour in ("RGB", "BGR"):
            spec["color_order"] = colour
        return Layout(kind, decoder, params, spec, nc, names)

    outs = graph.outputs
    if nhwc:
        tfod = _tfod_outputs(outs)
        if tfod is None:
            raise _refuse(graph, "an NHWC image input, but not the four TF Object Detection API outputs "
                                 "(boxes [B, N, 4], scores [B, N], classes [B, N], count [B])")
        return layout("tfod", "tfod", tfod, {"dtype": "uint8", "color_order": "RGB", "mean": (0.0, 0.0, 0.0),
                                             "std": (1.0, 1.0, 1.0), "resize": "stretch"}, None)
    if len(outs) == 2 and all(len(o.shape) == 3 for o in outs):
        boxes = [o for o in outs if o.dim(2) == 4]
        scores = [o for o in outs if o is not (boxes[0] if boxes else None)]
        if len(boxes) == 1 and len(scores) == 1 and scores[0].dim(2):
            params = {"boxes_output": boxes[0].name, "scores_output": scores[0].name, "score_activation": "sigmoid"}
            return layout("detr", "detr", params, {"color_order": "RGB", "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                                                   "resize": "stretch"}, scores[0].dim(2))
    if meta.get("task") == "segment" and names and outs and len(outs[0].shape) == 3:
        # Ultralytics segmentation: output0 [B, 4 + nc + 32, N] (mask coefficients last), output1 the prototypes
        extra = (outs[0].dim(1) or 0) - 4 - len(names)
        if extra > 0:
            return layout("ultralytics-yolo-seg", "yolo", {"output": outs[0].name, "extra_rows": extra},
                          ULTRALYTICS_INPUT, len(names))
    if len(outs) != 1 or len(outs[0].shape) != 3:
        raise _refuse(graph, "no single [B, rows, columns] output and no DETR boxes + logits pair")
    out = outs[0]
    a, b = out.dim(1), out.dim(2)
    if meta.get("head") == "RTDETRDecoder" and b == 6:  # Ultralytics >= 8.4: top-k rows cx, cy, w, h, score, class
        return layout("rtdetr", "end2end", {"output": out.name, "box_format": "cxcywh", "normalized": True},
                      {**ULTRALYTICS_INPUT, "resize": "stretch"}, None)
    if meta.get("head") == "RTDETRDecoder" and b and b > 4:  # older: [B, Q, 4 + nc] boxes and probabilities
        return layout("rtdetr", "detr", {"boxes_output": out.name, "scores_output": out.name, "scores_offset": 4,
                                         "score_activation": "none"},
                      {**ULTRALYTICS_INPUT, "resize": "stretch"}, b - 4)
    if b == 6 and (meta.get("end2end") == "True" or a is None or a != 3 * grid_cells(width, height)):
        return layout("end2end", "end2end", {"output": out.name}, ULTRALYTICS_INPUT, None)
    if a and a > 4 and (b is None or b > a):
        return layout("ultralytics-yolo", "yolo", {"output": out.name}, ULTRALYTICS_INPUT, a - 4)
    if b and b > 5 and a:
        if a == 3 * grid_cells(width, height):
            return layout("yolov5", "yolov5", {"output": out.name}, ULTRALYTICS_INPUT, b - 5)
        if a == grid_cells(width, height):
            return layout("yolox", "yolox", {"output": out.name, "strides": [8, 16, 32]},
                          {"color_order": "BGR", "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0),
                           "resize": "letterbox_topleft", "pad_value": 114}, b - 5)
        raise _refuse(graph, f"rows of {b} values (cx, cy, w, h, objectness + {b - 5} classes?), but {a} rows "
                             f"match neither YOLOv5's 3 anchors per cell ({3 * grid_cells(width, height)}) nor "
                             f"YOLOX's one per cell ({grid_cells(width, height)}) at {width}x{height}")
    raise _refuse(graph, f"output {out} fits none of the known layouts")


def _image_input(graph: GraphInfo) -> tuple[Tensor, bool]:
    images = [t for t in graph.inputs if len(t.shape) == 4]
    if len(graph.inputs) != 1 or len(images) != 1:
        raise _refuse(graph, "not exactly one image input (a 4-D tensor)")
    image = images[0]
    if image.dim(1) == 3 and image.dtype in ("float32", "float16"):
        return image, False
    if image.dim(3) == 3 or (image.dtype == "uint8" and image.dim(1) != 3):
        if image.dtype != "uint8":
            raise _refuse(graph, f"an NHWC input of {image.dtype}; only uint8 NHWC (raw pixels) is known")
        return image, True
    raise _refuse(graph, f"image input {image} is neither float32 (or float16) NCHW with 3 channels nor uint8 NHWC")


def _input_size(graph: GraphInfo, image: Tensor, nhwc: bool, imgsz: int | None) -> tuple[int, int]:
    h, w = (image.dim(1), image.dim(2)) if nhwc else (image.dim(2), image.dim(3))
    if h and w:
        return w, h
    stored = metadata_imgsz(graph.metadata)
    if stored:
        return stored
    if imgsz:
        return imgsz, imgsz
    raise LayoutNotRecognised(f"the input {image} has a dynamic height and width and the file's metadata stores no "
                              "imgsz: give the size to feed (--imgsz)")


def _tfod_outputs(outs: list[Tensor]) -> dict[str, Any] | None:
    def pick(word: str, rank: int) -> Tensor | None:
        found = [o for o in outs if word in o.name.lower() and len(o.shape) == rank]
        return found[0] if len(found) == 1 else None

    boxes, scores, classes, count = pick("box", 3), pick("score", 2), pick("class", 2), pick("num", 1)
    if None in (boxes, scores, classes, count) or len(outs) < 4:
        return None
    return {"boxes_output": boxes.name, "scores_output": scores.name, "classes_output": classes.name,
            "count_output": count.name, "label_offset": 1}


def _refuse(graph: GraphInfo, why: str) -> LayoutNotRecognised:
    return LayoutNotRecognised(
        f"output layout not recognised: {why}. Found {graph.describe()}. A manifest written by hand would need: "
        f"decoder (one of {', '.join(DECODER_NAMES)}), decoder_params (the output names that decoder reads), "
        "input (name, width, height, layout, dtype, color_order, mean, std, resize) and class_names")
