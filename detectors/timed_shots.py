"""Timed snapshots of a dwell: pictures taken at first sighting, during the dwell and at confirmation, which
together prove the object stayed in the same place (GA/T 832 asks for several timed images of one vehicle).

The rule does not know at first sighting whether the object will stay, so each candidate keeps its earlier
pictures in memory until it is confirmed or moves: at most ``count`` JPEGs of at most ``max_width`` pixels
per candidate, dropped as soon as the candidate's dwell restarts or its track is lost.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ShotPlan:
    count: int = 3  # pictures per incident, the first at first sighting, the last at confirmation
    every_s: float | None = None  # seconds between pictures; None: spread evenly over the dwell
    max_width: int = 1280  # pictures are scaled down to this width in memory and in the store
    quality: int = 85  # JPEG quality

    def due(self, taken: int, dwell_start: float, min_dwell_s: float) -> float | None:
        """Media time at which picture number ``taken`` (0-based) is due before confirmation; None when
        every picture before the confirmation one has been taken."""
        if taken >= self.count - 1:
            return None
        step = self.every_s if self.every_s is not None else min_dwell_s / max(1, self.count - 1)
        at = dwell_start + taken * step
        return at if taken == 0 or at < dwell_start + min_dwell_s else None


@dataclass(frozen=True)
class TimedShot:
    at: float  # media s of the frame
    jpeg: bytes  # the whole frame, scaled to the plan's max_width
    box: tuple[float, float, float, float]  # the object's box in the original frame's pixels
    frame_size: tuple[int, int]  # (width, height) of the original frame


def take_shot(image: np.ndarray, at: float, box: np.ndarray, plan: ShotPlan) -> TimedShot:
    h, w = image.shape[:2]
    small = image if w <= plan.max_width else cv2.resize(
        image, (plan.max_width, max(1, round(h * plan.max_width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, plan.quality])
    if not ok:
        raise ValueError("OpenCV could not encode a timed snapshot")
    return TimedShot(at, buf.tobytes(), tuple(float(v) for v in box), (w, h))
