"""The latest analysed frame of each source, kept in memory for snapshots and previews.

One entry per source, replaced on every analysed frame (so memory is one frame per camera).
Readers get the same objects the pipeline stored: treat `image` and `detections` as read-only.
The pipeline writes from its inference thread; API routes read from request threads.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import supervision as sv


@dataclass(frozen=True)
class LatestFrame:
    source_id: str
    image: np.ndarray  # BGR, HxWx3, uint8 — as analysed (not resized)
    detections: sv.Detections  # the detector's output on this frame, in pixels of `image`
    time_s: float  # media time of the frame
    wall_time: float  # unix time it was analysed
    extras: dict = field(default_factory=dict)  # e.g. per-rule candidates, filled by whoever has them

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    def jpeg(self, quality: int = 85, max_width: int | None = None) -> bytes:
        image = self.image
        if max_width and image.shape[1] > max_width:
            scale = max_width / image.shape[1]
            image = cv2.resize(image, (max_width, max(1, round(image.shape[0] * scale))),
                               interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:  # cannot happen for a valid uint8 BGR image
            raise ValueError(f"JPEG encoding failed for source {self.source_id}")
        return buf.tobytes()


class LatestFrames:
    """Thread-safe map source id → `LatestFrame`."""

    def __init__(self) -> None:
        self._frames: dict[str, LatestFrame] = {}
        self._lock = threading.Lock()

    def put(self, source_id: str, image: np.ndarray, detections: sv.Detections, time_s: float,
            wall_time: float | None = None, extras: dict | None = None) -> LatestFrame:
        entry = LatestFrame(source_id, image, detections, time_s,
                            time.time() if wall_time is None else wall_time, dict(extras or {}))
        with self._lock:
            self._frames[source_id] = entry
        return entry

    def get(self, source_id: str) -> LatestFrame | None:
        with self._lock:
            return self._frames.get(source_id)

    def forget(self, source_id: str) -> None:
        with self._lock:
            self._frames.pop(source_id, None)

    def sources(self) -> list[str]:
        with self._lock:
            return sorted(self._frames)
