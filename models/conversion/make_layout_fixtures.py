"""Build tiny real Ultralytics ONNX exports (random weights, narrow width) for the layout tests, with the
exporter's own metadata and Ultralytics' own predictions on the vtest frame as the independent reference.

Run with the training venv (torch + ultralytics), offline:
    YOLO_OFFLINE=1 .venv-train/bin/python models/conversion/make_layout_fixtures.py OUT_DIR FRAME.jpg
Writes OUT_DIR/<arch>.onnx and OUT_DIR/<arch>.reference.json for yolov8, yolo11, yolov10, yolo26 and rtdetr.
The width multiplier is cut to 1/16 (RT-DETR: a 1-layer, 32-wide decoder with 30 queries) so that each file
stays under 1 MB. Random weights as initialised score every box alike (the heads' biases dominate), so the
heads' last layers are drawn again at a larger scale: the boxes and scores then vary with the image, which is
what a test of the decoding needs.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from pathlib import Path

import yaml

CLASSES = {0: "tricycle", 1: "car", 2: "person", 3: "parasol", 4: "bin"}
IMGSZ = 128
# (name in the output, the Ultralytics model YAML, its compound scale for a tiny model)
ARCHS = {
    "yolov8": ("v8/yolov8.yaml", [0.33, 0.0625, 256]),
    "yolo11": ("11/yolo11.yaml", [0.50, 0.0625, 256]),
    "yolov10": ("v10/yolov10n.yaml", [0.33, 0.0625, 256]),
    "yolo26": ("26/yolo26.yaml", [0.50, 0.0625, 256]),
    "rtdetr": ("rt-detr/rtdetr-l.yaml", None),
}


def tiny_yaml(arch: str, folder: Path) -> Path:
    import ultralytics

    src, scale = ARCHS[arch]
    cfg = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg" / "models" / src).read_text())
    cfg["nc"] = len(CLASSES)
    if scale is not None:
        cfg["scales"] = {"n": scale}
    else:  # RT-DETR-l, narrowed: HGNet at 1/16 width, AIFI with 2 heads, decoder [nc, hd, nq, ndp, nh, ndl, d_ffn]
        cfg["scales"] = {"l": [0.33, 0.0625, 256]}
        narrow = {"HGStem": 2, "HGBlock": 2, "DWConv": 1}  # leading channel args the width multiplier skips
        for layer in cfg["backbone"]:
            n = narrow.get(layer[2], 0)
            layer[3] = [max(8, c // 16) for c in layer[3][:n]] + layer[3][n:]
        for layer in cfg["head"]:
            if layer[2] == "AIFI":
                layer[3] = [64, 2]
            if layer[2] == "RTDETRDecoder":
                layer[3] = [len(CLASSES), 32, 30, 4, 2, 1, 64]
    path = folder / f"{arch}-tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def liven(model) -> None:
    """Redraw the last layer of each head branch (N(0, gain/sqrt(fan_in)) weights, N(-2 or 0, 1.5) biases)."""
    import torch

    head = model.model.model[-1]
    branches = [(getattr(head, a, None) or [], "cv3" in a) for a in ("cv2", "cv3", "one2one_cv2", "one2one_cv3")]
    branches += [(getattr(head, a, None) or [], True) for a in ("dec_score_head", "enc_score_head")]
    with torch.no_grad():
        for modules, is_score in branches:
            single = isinstance(modules, torch.nn.Module) and not isinstance(modules, torch.nn.ModuleList)
            for branch in [modules] if single else modules:
                last = [m for m in branch.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))][-1]
                gain = 0.3 if isinstance(last, torch.nn.Linear) else 3.0  # DETR features are larger
                last.weight.normal_(0, gain / math.sqrt(last.weight[0].numel()))
                if is_score or getattr(head, "reg_max", 16) > 1:  # DFL logits (or class scores) of either sign
                    last.bias.normal_(-2.0 if is_score else 0.0, 1.5)
                else:  # YOLO26 regresses the four distances directly (in strides): keep them positive
                    last.bias.uniform_(0.5, 3.0)


def build(arch: str, out: Path, frame: Path) -> None:
    import torch
    from ultralytics import RTDETR, YOLO

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        cls = RTDETR if arch == "rtdetr" else YOLO
        model = cls(str(tiny_yaml(arch, Path(tmp))))
        model.model.names = dict(CLASSES)
        liven(model)
        # nms=False keeps the NMS-free (one-to-one) head of YOLOv10 and YOLO26: output [1, 300, 6]
        end2end = {"nms": False} if arch in ("yolov10", "yolo26") else {}
        exported = Path(model.export(format="onnx", imgsz=IMGSZ, opset=17, simplify=False, dynamic=False, **end2end))
        target = out / f"{arch}.onnx"
        exported.replace(target)
    # Ultralytics' own predictor on the ONNX file: the reference our decoder must agree with
    onnx_model = RTDETR(str(target)) if arch == "rtdetr" else YOLO(str(target), task="detect")
    res = onnx_model.predict(str(frame), imgsz=IMGSZ, conf=0.0001, iou=0.7, max_det=50, verbose=False)[0]
    ref = {"imgsz": IMGSZ, "conf": 0.0001, "iou": 0.7, "names": CLASSES,
           "boxes": res.boxes.xyxy.tolist(), "scores": res.boxes.conf.tolist(),
           "classes": [int(c) for c in res.boxes.cls.tolist()]}
    (out / f"{arch}.reference.json").write_text(json.dumps(ref))
    print(arch, target.stat().st_size, "bytes,", len(ref["scores"]), "reference boxes")


def main() -> int:
    out, frame = Path(sys.argv[1]), Path(sys.argv[2])
    archs = sys.argv[3:] or list(ARCHS)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    for arch in archs:
        build(arch, out, frame)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
