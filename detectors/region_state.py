"""Zones judged as a region state: the crop of each zone's bounding box, scored by a state classifier.

A bin region is full or not (detectors/bins.py); a vending spot has a stall or not (detectors/vending.py). Both
are judged the same way: the state classifier a camera's reviewers trained from their examples (vision/examples.py,
or an ``examples_dir`` of crops) gives the probability of the violating state for the region's crop. A frame in
which an occluder (someone, a vehicle) covers too much of the region says nothing about it and is not judged.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vision.zones import Zone


class StateClassifier(Protocol):
    def probability_full(self, crop: np.ndarray) -> float:
        """Probability of the region's violating state (a full bin, a stall present)."""


@dataclass(frozen=True)
class RegionState:
    zone_id: str
    box: np.ndarray  # the region's bounding box, pixels [x1, y1, x2, y2]
    probability: float  # of the violating state

    def candidate_box(self) -> list[float]:
        """The region's box shrunk a little at the bottom, so that its bottom-centre anchor (which the core's
        zone test uses) lies inside the region's polygon."""
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return [x1, y1, x2, y2 - 0.05 * (y2 - y1)]


def overlap_fraction(region: np.ndarray, box: np.ndarray) -> float:
    """How much of ``region`` the box covers (0..1)."""
    w = max(0.0, min(region[2], box[2]) - max(region[0], box[0]))
    h = max(0.0, min(region[3], box[3]) - max(region[1], box[1]))
    area = (region[2] - region[0]) * (region[3] - region[1])
    return float(w * h / area) if area > 0 else 0.0


def region_box(zone: Zone, width: int, height: int) -> np.ndarray:
    poly = zone.pixel_polygon(width, height)
    x1, y1 = np.clip(poly.min(axis=0), 0, [width - 1, height - 1])
    x2, y2 = np.clip(poly.max(axis=0), 1, [width, height])
    return np.array([x1, y1, x2, y2], dtype=np.float64)


def judge_regions(image: np.ndarray, zones: Sequence[Zone], classifier_of: Callable[[str], StateClassifier | None],
                  occluders: Sequence[np.ndarray] = (), max_occlusion: float = 0.2) -> list[RegionState]:
    """The state of every zone that has a classifier (``classifier_of(zone id)``) and is not covered by an
    occluder box beyond ``max_occlusion`` of its area."""
    height, width = image.shape[:2]
    out: list[RegionState] = []
    for zone in zones:
        clf = classifier_of(zone.id)
        if clf is None:
            continue
        box = region_box(zone, width, height)
        if any(overlap_fraction(box, b) > max_occlusion for b in occluders):
            continue  # someone stands in front of it: this frame says nothing
        x1, y1, x2, y2 = (int(v) for v in box)
        out.append(RegionState(zone.id, box, clf.probability_full(image[y1:y2, x1:x2])))
    return out
