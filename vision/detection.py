"""Run a registered model on frames and return supervision `Detections` with class names."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import supervision as sv

from models.detector import OnnxDetector, RawDetections


def to_detections(raw: RawDetections, class_names: Sequence[str]) -> sv.Detections:
    names = np.array([class_names[i] if 0 <= i < len(class_names) else str(i) for i in raw.class_ids],
                     dtype=object)
    return sv.Detections(
        xyxy=np.asarray(raw.xyxy, dtype=np.float32).reshape(-1, 4),
        confidence=np.asarray(raw.scores, dtype=np.float32),
        class_id=np.asarray(raw.class_ids, dtype=int),
        data={"class_name": names},
    )


class FrameDetector:
    """Batched detection: many frames (from many sources) in, one `Detections` per frame out."""

    def __init__(self, detector: OnnxDetector) -> None:
        self.detector = detector

    @property
    def class_names(self) -> list[str]:
        return list(self.detector.class_names)

    def detect(self, images: Sequence[np.ndarray]) -> list[sv.Detections]:
        if not images:
            return []
        return [to_detections(r, self.detector.class_names) for r in self.detector.detect(images)]
