"""Decoder for end-to-end exports that pick their own boxes: YOLOv10, YOLO26, Ultralytics `nms=True` exports
and Ultralytics 8.4 RT-DETR exports.

Output [B, N, 6]: box, score, class id; rows past the real detections score 0. The box is x1, y1, x2, y2 in
network-input pixels (YOLO), or with `box_format: cxcywh` and `normalized: true` centre and size as fractions
of the input (RT-DETR). Our NMS still runs after it (an IoU threshold of 1 keeps every box).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from models.decoders import Candidates, cxcywh_to_xyxy
from models.manifest import ModelManifest


class EndToEndDecoder:
    def __init__(self, manifest: ModelManifest) -> None:
        self.output_names = [str(manifest.decoder_params.get("output", "output0"))]
        self.num_classes = len(manifest.class_names)
        self.cxcywh = manifest.decoder_params.get("box_format", "xyxy") == "cxcywh"
        w, h = manifest.input_size
        self.scale = np.array([w, h, w, h], np.float32) if manifest.decoder_params.get("normalized") else None

    def __call__(self, outputs: Sequence[np.ndarray], i: int, min_score: float) -> Candidates:
        pred = outputs[0][i]
        if pred.ndim != 2 or pred.shape[1] != 6:
            raise ValueError(f"end2end output has shape {pred.shape}, expected [N, 6]")
        keep = pred[:, 4] > min_score
        cls = pred[keep, 5].round().astype(np.int64)
        if cls.size and (cls.min() < 0 or cls.max() >= self.num_classes):
            raise ValueError(f"end2end output has class ids up to {cls.max()}, the manifest names {self.num_classes} classes")
        boxes = cxcywh_to_xyxy(pred[keep, :4]) if self.cxcywh else pred[keep, :4].astype(np.float32)
        if self.scale is not None:
            boxes = boxes * self.scale
        return Candidates(boxes, pred[keep, 4].astype(np.float32), cls)
