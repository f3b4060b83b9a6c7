"""Moving cameras: findings of the same type at the same place and time are one incident, across devices.

A finding's place is where it was first found and where it was last seen: a device that walks on while it keeps
seeing a parked van moves the latest point along, so the van's next track (the tracker lost it, or its class
flickered from truck to bus) still meets its incident tens of metres on. A new finding merges when it is
within the radius of either point."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Protocol

from detectors.incidents import Incident

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def lat_lng_time(position: dict) -> tuple[float, float, float]:
    """(lat, lng, unix s) of a device's reported position ``{"lng", "lat", "timestamp"}``."""
    return float(position["lat"]), float(position["lng"]), float(position["timestamp"])


@dataclass
class _Finding:
    incident: Incident
    lat: float  # where it was first found
    lng: float
    last_time: float  # the device's timestamp of the latest sighting (unix s)
    latest: tuple[float, float] | None = None  # (lat, lng) of the latest sighting, when it differs

    def distance_m(self, lat: float, lng: float) -> float:
        d = haversine_m(lat, lng, self.lat, self.lng)
        return d if self.latest is None else min(d, haversine_m(lat, lng, *self.latest))


class Merger(Protocol):
    """Where moving cameras' findings meet: `GeoMerger` in one process, `RedisGeoMerger` across workers."""

    def claim(self, incident: Incident, position: dict, radius_m: float, window_s: float) -> Incident | None:
        """In one step: the incident of ``incident.type`` within ``radius_m`` whose last sighting is within
        ``window_s`` of ``position`` (its sighting refreshed), or None after registering ``incident`` as
        a new finding there."""

    def joined(self, incident: Incident, source_id: str) -> None:
        """``source_id`` saw the finding of ``incident`` too."""

    def devices(self, incident: Incident) -> list[str]:
        """Every device that saw it (called when it ends)."""

    def adopt(self, incident: Incident) -> None:
        """This process continues ``incident`` (handed over from another worker)."""

    def seen(self, incident: Incident, position: dict) -> None:
        """The device still sees ``incident``'s object from ``position``: its latest point and time."""


def add_device(incident: Incident, source_id: str) -> None:
    devices = incident.extra.setdefault("devices", [])
    if source_id not in devices:
        devices.append(source_id)


class GeoMerger:
    """Shared by all sources of one process; thread-safe. Positions are {"lng", "lat", "timestamp"}."""

    def __init__(self) -> None:
        self._findings: list[_Finding] = []
        self._lock = threading.RLock()  # claim() matches and adds under one hold

    def match(self, event_type: str, position: dict, radius_m: float, window_s: float) -> Incident | None:
        """The incident of this type within ``radius_m`` whose last sighting is within ``window_s``."""
        lat, lng, ts = lat_lng_time(position)
        with self._lock:
            self._findings = [f for f in self._findings if ts - f.last_time <= max(window_s, 0) or ts < f.last_time]
            best: tuple[float, _Finding] | None = None
            for f in self._findings:
                if f.incident.type != event_type or abs(ts - f.last_time) > window_s:
                    continue
                d = f.distance_m(lat, lng)
                if d <= radius_m and (best is None or d < best[0]):
                    best = (d, f)
            if best is None:
                return None
            best[1].last_time = max(best[1].last_time, ts)
            return best[1].incident

    def claim(self, incident: Incident, position: dict, radius_m: float, window_s: float) -> Incident | None:
        with self._lock:
            existing = self.match(incident.type, position, radius_m, window_s)
            if existing is None:
                self.add(incident, position)
            return existing

    def add(self, incident: Incident, position: dict) -> None:
        with self._lock:
            self._findings.append(_Finding(incident, *lat_lng_time(position)))

    def joined(self, incident: Incident, source_id: str) -> None:
        with self._lock:
            add_device(incident, source_id)

    def devices(self, incident: Incident) -> list[str]:
        with self._lock:
            return list(incident.extra.get("devices", []))

    def adopt(self, incident: Incident) -> None:
        position = incident.extra.get("position")
        if position and all(k in position for k in ("lat", "lng", "timestamp")):
            with self._lock:
                if all(f.incident.id != incident.id for f in self._findings):
                    self.add(incident, position)

    def seen(self, incident: Incident, position: dict) -> None:
        lat, lng, ts = lat_lng_time(position)
        with self._lock:
            for f in self._findings:
                if f.incident.id == incident.id:
                    f.last_time = max(f.last_time, ts)
                    f.latest = (lat, lng)
                    return
