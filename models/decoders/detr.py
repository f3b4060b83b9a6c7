"""Decoder for DETR-family exports without NMS: RT-DETR (Ultralytics), RF-DETR, and others of the kind.

Boxes [B, Q, 4] are centre x, centre y, width, height as fractions of the input; class scores [B, Q, C]
are either logits (`score_activation: sigmoid`, RF-DETR's `labels`) or probabilities (`none`, Ultralytics'
RT-DETR, whose single `output0` [B, Q, 4 + C] holds both: `scores_offset: 4` on the same output).
Each query keeps its best class, as upstream's post-processing does for the top queries.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from models.decoders import Candidates, cxcywh_to_xyxy
from models.manifest import ManifestError, ModelManifest


class DetrDecoder:
    def __init__(self, manifest: ModelManifest) -> None:
        p = manifest.decoder_params
        try:
            boxes, scores = str(p["boxes_output"]), str(p["scores_output"])
        except KeyError as err:
            raise ManifestError(f"model {manifest.name}: field 'decoder_params' needs boxes_output and "
                                f"scores_output for the detr decoder (missing {err})") from None
        self.same_output = boxes == scores
        self.output_names = [boxes] if self.same_output else [boxes, scores]
        self.scores_offset = int(p.get("scores_offset", 4 if self.same_output else 0))
        self.activation = str(p.get("score_activation", "sigmoid"))
        if self.activation not in ("sigmoid", "none"):
            raise ManifestError(f"model {manifest.name}: field 'decoder_params.score_activation' must be sigmoid or none")
        self.num_classes = len(manifest.class_names)
        self.width, self.height = manifest.input_size

    def __call__(self, outputs: Sequence[np.ndarray], i: int, min_score: float) -> Candidates:
        boxes = outputs[0][i][:, :4]
        scores = outputs[0][i][:, self.scores_offset:] if self.same_output else outputs[1][i]
        if scores.ndim != 2 or scores.shape[1] < self.num_classes or len(scores) != len(boxes):
            raise ValueError(f"detr scores have shape {scores.shape}, expected [{len(boxes)}, {self.num_classes}]")
        scores = scores[:, :self.num_classes]  # DETR heads may add a no-object column after the classes
        if self.activation == "sigmoid":
            scores = 1.0 / (1.0 + np.exp(-scores.astype(np.float32)))
        cls = scores.argmax(axis=1)
        best = scores[np.arange(len(scores)), cls]
        keep = np.nonzero(best > min_score)[0]
        xyxy = cxcywh_to_xyxy(boxes[keep]) * np.array([self.width, self.height] * 2, np.float32)
        return Candidates(xyxy, best[keep].astype(np.float32), cls[keep].astype(np.int64))
