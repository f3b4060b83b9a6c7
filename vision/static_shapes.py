"""Static objects of one kind: class-agnostic static objects (`StaticObjectDetector`) kept only when their
shape and colour fit a scene. Laundry hung on a railing is colourful cloth; a standing sign or banner is a solid
rectangle; a bag of rubbish is neither. The filter wraps the detector and offers its ``update``, so the rules that
take static objects (detectors/debris.py) take these unchanged."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vision.static_objects import StaticBlob, StaticObjectDetector


@dataclass(frozen=True)
class ShapeFilter:
    min_aspect: float = 0.0  # width / height of the box
    max_aspect: float = 100.0
    min_fill: float = 0.0  # object pixels / box area
    max_fill: float = 1.0
    min_saturation: float = 0.0  # 75th percentile of the box's HSV saturation (0..255)

    def measure(self, blob: StaticBlob, image: np.ndarray) -> dict[str, float]:
        """Aspect, fill and saturation of a blob on the frame it was found in."""
        h, w = image.shape[:2]
        x1, y1, x2, y2 = blob.box
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        crop = image[max(0, int(y1)):min(h, int(np.ceil(y2))), max(0, int(x1)):min(w, int(np.ceil(x2)))]
        sat = float(np.percentile(cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)[..., 1], 75)) if crop.size else 0.0
        return {"aspect": bw / bh, "fill": min(1.0, blob.area * w * h / (bw * bh)), "saturation": sat}

    def keeps(self, blob: StaticBlob, image: np.ndarray) -> bool:
        m = self.measure(blob, image)
        return (self.min_aspect <= m["aspect"] <= self.max_aspect and self.min_fill <= m["fill"] <= self.max_fill
                and m["saturation"] >= self.min_saturation)


class ShapedStaticObjects:
    """A `StaticObjectDetector` whose results are the blobs that ``shape`` keeps."""

    def __init__(self, detector: StaticObjectDetector, shape: ShapeFilter) -> None:
        self.detector = detector
        self.shape = shape
        self.rejected: list[StaticBlob] = []  # the last frame's blobs of another shape (for diagnosis)

    def update(self, image: np.ndarray, ignore_boxes: np.ndarray | None = None) -> list[StaticBlob]:
        blobs = self.detector.update(image, ignore_boxes)
        kept = [b for b in blobs if self.shape.keeps(b, image)]
        self.rejected = [b for b in blobs if b not in kept]
        return kept
