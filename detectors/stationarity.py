"""Is a track standing still? Judged over a sliding window, relative to the object's size.

A box that jitters or drifts slowly stays within ``tolerance`` × its diagonal over the window and
counts as stationary; a moving object leaves that radius within the window and resets the clock.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


def box_center(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])


def box_diagonal(box: np.ndarray) -> float:
    return float(np.hypot(box[2] - box[0], box[3] - box[1]))


@dataclass
class MotionWindow:
    window_s: float
    tolerance: float  # fraction of the box diagonal
    min_radius_px: float = 1.0  # small boxes still get this much jitter
    _history: deque = field(default_factory=deque)

    def add(self, t: float, box: np.ndarray) -> bool:
        """Record a position; return True when the track stayed within tolerance over the window."""
        center = box_center(box)
        self._history.append((t, center))
        while self._history and t - self._history[0][0] > self.window_s:
            self._history.popleft()
        radius = max(self.tolerance * box_diagonal(box), self.min_radius_px)
        return all(np.hypot(*(center - c)) <= radius for _, c in self._history)

    def reset(self) -> None:
        self._history.clear()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
