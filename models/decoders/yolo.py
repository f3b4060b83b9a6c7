"""Decoder for Ultralytics YOLO detection exports (YOLOv8/11 `format="onnx"`, nms=False).

`output0` is [B, 4 + nc, N]: rows cx, cy, w, h in network-input pixels, then one score per class
(already sigmoid-ed). As Ultralytics' default NMS, each anchor keeps only its best class. Segmentation
exports add `extra_rows` (32 mask coefficients) after the scores: their boxes decode the same, the masks
are not used.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from models.decoders import Candidates
from models.manifest import ModelManifest


class YoloDecoder:
    def __init__(self, manifest: ModelManifest) -> None:
        self.output_names = [str(manifest.decoder_params.get("output", "output0"))]
        self.num_classes = len(manifest.class_names)
        self.extra_rows = int(manifest.decoder_params.get("extra_rows", 0))

    def __call__(self, outputs: Sequence[np.ndarray], i: int, min_score: float) -> Candidates:
        pred = outputs[0][i]  # [4 + nc (+ extra_rows), N]
        if pred.ndim != 2 or pred.shape[0] != 4 + self.num_classes + self.extra_rows:
            raise ValueError(f"yolo output has shape {pred.shape}, expected [4 + {self.num_classes}"
                             f"{f' + {self.extra_rows}' if self.extra_rows else ''}, N]")
        cls_scores = pred[4:4 + self.num_classes]
        cls = cls_scores.argmax(axis=0)
        best = cls_scores[cls, np.arange(pred.shape[1])]
        keep = np.nonzero(best > min_score)[0]
        cx, cy, w, h = pred[:4, keep]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
        return Candidates(boxes, best[keep].astype(np.float32), cls[keep].astype(np.int64))


def yolo_manifest_fields(name: str, version: str, class_names: list[str], imgsz: int,
                         license_model: str = "AGPL-3.0", **extra: object) -> dict:
    """Manifest fields for an Ultralytics export (pass to models.registry.register_model): RGB, 0..1
    scaling, letterbox with grey 114, `images` -> `output0`. Ultralytics-trained weights are AGPL-3.0
    unless an Enterprise licence says otherwise."""
    return {"name": name, "version": version, "task": "detect", "decoder": "yolo", "class_names": list(class_names),
            "input": {"name": "images", "width": imgsz, "height": imgsz, "layout": "NCHW", "color_order": "RGB",
                      "mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0], "resize": "letterbox",
                      "pad_value": 114, "dynamic_batch": False},
            "decoder_params": {"output": "output0"},
            "license": {"model": license_model}, **extra}
