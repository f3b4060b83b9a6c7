"""PyTorch weights -> ONNX as serving reads it (models/decoders/yolo.py): input ``images`` [1, 3, S, S]
RGB 0..1 letterboxed with grey 114, output ``output0`` [1, 4 + nc, N], no NMS in the graph."""
from __future__ import annotations

from pathlib import Path

from training.env import import_ultralytics


def export_onnx(weights: str | Path, imgsz: int, opset: int | None = None) -> Path:
    import_ultralytics()
    from ultralytics import YOLO

    out = YOLO(str(weights), task="detect").export(format="onnx", imgsz=imgsz, simplify=False, dynamic=False,
                                                   nms=False, opset=opset, device="cpu")
    path = Path(out)
    if not path.is_file():
        raise RuntimeError(f"ONNX export of {weights} produced no file")
    return path
