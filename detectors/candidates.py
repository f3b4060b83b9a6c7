"""Candidates that rules make themselves (vending clusters, static objects, a full bin) as `Detections`.

They get stable ids from a greedy IoU matcher, so the dwell and sighting cores treat them like tracks.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import supervision as sv

from detectors.stationarity import iou


def candidate_detections(boxes: Sequence[Sequence[float]], scores: Sequence[float], names: Sequence[str],
                         ids: Sequence[int] | None = None) -> sv.Detections:
    if not len(boxes):
        return sv.Detections.empty()
    return sv.Detections(
        xyxy=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        confidence=np.asarray(scores, dtype=np.float32),
        class_id=np.zeros(len(boxes), dtype=int),
        tracker_id=None if ids is None else np.asarray(ids, dtype=int),
        data={"class_name": np.asarray(list(names), dtype=object)},
    )


class BoxTracker:
    """Greedy IoU matching of boxes between frames; a box unmatched for ``max_age`` updates is forgotten."""

    def __init__(self, min_iou: float = 0.3, max_age: int = 10) -> None:
        self.min_iou = min_iou
        self.max_age = max_age
        self._boxes: dict[int, tuple[np.ndarray, int]] = {}  # id -> (box, age)
        self._next = 1

    def assign(self, boxes: np.ndarray) -> list[int]:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        pairs = sorted(((iou(b, prev), i, tid) for i, b in enumerate(boxes)
                        for tid, (prev, _) in self._boxes.items()), reverse=True)
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for overlap, i, tid in pairs:
            if overlap < self.min_iou:
                break
            if ids[i] is None and tid not in used:
                ids[i] = tid
                used.add(tid)
        for i in range(len(boxes)):
            if ids[i] is None:
                ids[i] = self._next
                self._next += 1
        aged = {tid: (box, age + 1) for tid, (box, age) in self._boxes.items() if tid not in ids}
        self._boxes = {tid: v for tid, v in aged.items() if v[1] <= self.max_age}
        for i, tid in enumerate(ids):
            self._boxes[tid] = (boxes[i], 0)
        return [int(t) for t in ids]

    def track(self, dets: sv.Detections) -> sv.Detections:
        if len(dets) == 0:
            self.assign(np.zeros((0, 4)))
            return dets
        dets.tracker_id = np.asarray(self.assign(dets.xyxy), dtype=int)
        return dets
