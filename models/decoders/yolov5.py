"""Decoders for rows of [cx, cy, w, h, objectness, class scores...]: YOLOv5 (and v7) exports, whose graph
already decodes the boxes into network-input pixels, and YOLOX exports, which leave them relative to the grid.

Output [B, N, 5 + nc]; objectness and class scores are already sigmoid-ed in both. A box scores
objectness x its best class score, as upstream's NMS does (one class per box).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from models.decoders import Candidates, cxcywh_to_xyxy, empty_candidates
from models.manifest import ModelManifest


class YoloV5Decoder:
    def __init__(self, manifest: ModelManifest) -> None:
        self.output_names = [str(manifest.decoder_params.get("output", "output0"))]
        self.num_classes = len(manifest.class_names)

    def rows(self, outputs: Sequence[np.ndarray], i: int) -> np.ndarray:
        pred = outputs[0][i]  # [N, 5 + nc]
        if pred.ndim != 2 or pred.shape[1] != 5 + self.num_classes:
            raise ValueError(f"{type(self).__name__}: output has shape {pred.shape}, expected [N, 5 + {self.num_classes}]")
        return pred

    def boxes(self, rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return cxcywh_to_xyxy(rows[keep, :4])

    def __call__(self, outputs: Sequence[np.ndarray], i: int, min_score: float) -> Candidates:
        pred = self.rows(outputs, i)
        obj = pred[:, 4]
        maybe = np.nonzero(obj > min_score)[0]  # a box scores at most its objectness
        if maybe.size == 0:
            return empty_candidates()
        cls_scores = pred[maybe, 5:]
        cls = cls_scores.argmax(axis=1)
        score = obj[maybe] * cls_scores[np.arange(len(maybe)), cls]
        ok = score > min_score
        keep = maybe[ok]
        return Candidates(self.boxes(pred, keep), score[ok].astype(np.float32), cls[ok].astype(np.int64))


class YoloXDecoder(YoloV5Decoder):
    """YOLOX exported with decode_in_inference=False (its default): one anchor per cell of the stride-8, 16
    and 32 grids, in that order, row by row; x = (dx + col) * s, y = (dy + row) * s, w = exp(dw) * s."""

    def __init__(self, manifest: ModelManifest) -> None:
        super().__init__(manifest)
        strides = [int(s) for s in manifest.decoder_params.get("strides", (8, 16, 32))]
        w, h = manifest.input_size
        grids, step = [], []
        for s in strides:
            cols, rows = np.meshgrid(np.arange(math.ceil(w / s)), np.arange(math.ceil(h / s)))
            grids.append(np.stack([cols.ravel(), rows.ravel()], axis=1))
            step.append(np.full(cols.size, s))
        self._grid = np.concatenate(grids).astype(np.float32)
        self._stride = np.concatenate(step).astype(np.float32)[:, None]

    def rows(self, outputs: Sequence[np.ndarray], i: int) -> np.ndarray:
        pred = super().rows(outputs, i)
        if len(pred) != len(self._grid):
            raise ValueError(f"YoloXDecoder: output has {len(pred)} rows, the grids of the input size have {len(self._grid)}")
        return pred

    def boxes(self, rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
        r = rows[keep, :4]
        xy = (r[:, :2] + self._grid[keep]) * self._stride[keep]
        wh = np.exp(r[:, 2:4]) * self._stride[keep]
        return cxcywh_to_xyxy(np.concatenate([xy, wh], axis=1))
