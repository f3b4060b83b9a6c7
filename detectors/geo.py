"""Moving cameras: findings of the same type at the same place and time are one incident, across devices."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from detectors.incidents import Incident

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass
class _Finding:
    incident: Incident
    lat: float
    lng: float
    last_time: float  # the device's timestamp of the latest sighting (unix s)


class GeoMerger:
    """Shared by all sources of one process; thread-safe. Positions are {"lng", "lat", "timestamp"}."""

    def __init__(self) -> None:
        self._findings: list[_Finding] = []
        self._lock = threading.Lock()

    def match(self, event_type: str, position: dict, radius_m: float, window_s: float) -> Incident | None:
        """The incident of this type within ``radius_m`` whose last sighting is within ``window_s``."""
        lat, lng, ts = float(position["lat"]), float(position["lng"]), float(position["timestamp"])
        with self._lock:
            self._findings = [f for f in self._findings if ts - f.last_time <= max(window_s, 0) or ts < f.last_time]
            best: tuple[float, _Finding] | None = None
            for f in self._findings:
                if f.incident.type != event_type or abs(ts - f.last_time) > window_s:
                    continue
                d = haversine_m(lat, lng, f.lat, f.lng)
                if d <= radius_m and (best is None or d < best[0]):
                    best = (d, f)
            if best is None:
                return None
            best[1].last_time = max(best[1].last_time, ts)
            return best[1].incident

    def add(self, incident: Incident, position: dict) -> None:
        with self._lock:
            self._findings.append(_Finding(incident, float(position["lat"]), float(position["lng"]),
                                           float(position["timestamp"])))
