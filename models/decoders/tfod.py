"""Decoder for TensorFlow Object Detection API / SSD graphs with NMS built in (converted with tf2onnx).

Outputs: boxes [B, N, 4] as ymin, xmin, ymax, xmax in fractions of the image, scores [B, N], classes
[B, N] (float label ids, 1-based in TF label maps) and the count of valid rows [B]. `label_offset` is
subtracted from the label id to index `class_names` (0 when the class list is indexed by label id, as
our coco91 list is).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from models.decoders import Candidates, empty_candidates
from models.manifest import ManifestError, ModelManifest


class TfodDecoder:
    def __init__(self, manifest: ModelManifest) -> None:
        p = manifest.decoder_params
        try:
            self.output_names = [str(p[k]) for k in ("boxes_output", "scores_output", "classes_output", "count_output")]
        except KeyError as err:
            raise ManifestError(f"model {manifest.name}: field 'decoder_params' needs boxes_output, scores_output, "
                                f"classes_output and count_output for the tfod decoder (missing {err})") from None
        self.label_offset = int(p.get("label_offset", 1))
        self.num_classes = len(manifest.class_names)
        self.width, self.height = manifest.input_size

    def __call__(self, outputs: Sequence[np.ndarray], i: int, min_score: float) -> Candidates:
        boxes, scores, labels, count = (o[i] for o in outputs)
        n = int(np.asarray(count).reshape(-1)[0])
        boxes, scores, labels = boxes[:n], scores[:n], labels[:n]
        keep = scores > min_score
        if not keep.any():
            return empty_candidates()
        cls = np.round(labels[keep]).astype(np.int64) - self.label_offset
        known = (cls >= 0) & (cls < self.num_classes)  # a label the class list lacks is left out, not guessed
        y1, x1, y2, x2 = (boxes[keep][known] * np.array([self.height, self.width] * 2, np.float32)).T
        xyxy = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)
        return Candidates(xyxy, scores[keep][known].astype(np.float32), cls[known])
