"""Zones: polygons in normalised image coordinates, judged on a detection's bottom-centre anchor."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import supervision as sv


@dataclass
class Zone:
    """A zone of one source. The bottom-centre of a box is where an object stands on the ground."""

    id: str
    events: tuple[str, ...]
    polygon: np.ndarray  # [K, 2] float, normalised 0..1
    _pixel_zones: dict[tuple[int, int], sv.PolygonZone] = field(default_factory=dict, repr=False)

    @classmethod
    def from_points(cls, zone_id: str, events: Sequence[str], points: Sequence[Sequence[float]]) -> "Zone":
        poly = np.asarray(points, dtype=np.float64)
        if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3:
            raise ValueError(f"zone {zone_id}: polygon must be at least 3 (x, y) points")
        return cls(zone_id, tuple(events), poly)

    def pixel_polygon(self, width: int, height: int) -> np.ndarray:
        return np.round(self.polygon * np.array([width, height])).astype(np.int64)

    def contains(self, detections: sv.Detections, width: int, height: int) -> np.ndarray:
        """Boolean mask: which detections stand inside the zone (bottom-centre anchor)."""
        if len(detections) == 0:
            return np.zeros(0, dtype=bool)
        key = (width, height)
        zone = self._pixel_zones.get(key)
        if zone is None:
            zone = sv.PolygonZone(self.pixel_polygon(width, height),
                                  triggering_anchors=(sv.Position.BOTTOM_CENTER,))
            self._pixel_zones[key] = zone
        return np.asarray(zone.trigger(detections), dtype=bool)
