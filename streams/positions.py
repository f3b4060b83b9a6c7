"""Position reports of moving cameras (body-worn, handheld, vehicle): kept per source, looked up by time.

Devices report ``(lng, lat, timestamp)`` out of band (``POST /api/v1/sources/{id}/position``); every
analysed frame of such a source then carries the report nearest in time to when the frame was received,
as ``frame.extras["position"] = {"lng", "lat", "timestamp"}``. Timestamps are unix seconds.
"""
from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass


class UnknownSource(KeyError):
    """No source with that id."""


class NotAMovingSource(ValueError):
    """The source is fixed (kind ``cctv``): it takes no position reports."""


@dataclass(frozen=True, slots=True)
class Position:
    lng: float
    lat: float
    timestamp: float  # unix seconds

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lng) and -180.0 <= self.lng <= 180.0):
            raise ValueError(f"lng {self.lng} is outside -180..180")
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise ValueError(f"lat {self.lat} is outside -90..90")
        if not math.isfinite(self.timestamp):
            raise ValueError(f"timestamp {self.timestamp} is not a number of seconds")

    def as_dict(self) -> dict[str, float]:
        return {"lng": self.lng, "lat": self.lat, "timestamp": self.timestamp}


class PositionTrack:
    """The last ``max_points`` reports of one device, sorted by timestamp (reports may arrive out of order)."""

    def __init__(self, max_points: int = 512) -> None:
        if max_points < 1:
            raise ValueError("max_points must be at least 1")
        self.max_points = max_points
        self._times: list[float] = []
        self._points: list[Position] = []
        self._lock = threading.Lock()

    def add(self, position: Position) -> None:
        with self._lock:
            i = bisect.bisect_right(self._times, position.timestamp)
            self._times.insert(i, position.timestamp)
            self._points.insert(i, position)
            if len(self._points) > self.max_points:  # forget the oldest report
                del self._times[0], self._points[0]

    def nearest(self, t: float, max_skew_s: float | None = None) -> Position | None:
        """The report nearest in time to ``t`` (the earlier one on a tie), or None when there is none
        within ``max_skew_s``."""
        with self._lock:
            if not self._points:
                return None
            i = bisect.bisect_left(self._times, t)
            candidates = [j for j in (i - 1, i) if 0 <= j < len(self._points)]
            best = min(candidates, key=lambda j: abs(self._times[j] - t))
            position = self._points[best]
        if max_skew_s is not None and abs(position.timestamp - t) > max_skew_s:
            return None
        return position

    def __len__(self) -> int:
        with self._lock:
            return len(self._points)


class PositionBoard:
    """Tracks for the moving sources of a deployment; reports for other ids are refused."""

    def __init__(self, moving: Iterable[str], fixed: Iterable[str] = (), max_points: int = 512,
                 max_skew_s: float | None = 300.0) -> None:
        self._max_points = max_points
        self._tracks = {sid: PositionTrack(max_points) for sid in moving}
        self._fixed = set(fixed)
        self.max_skew_s = max_skew_s

    def register(self, source_id: str, moving: bool) -> None:
        """A source added at run time (a new camera record): moving ones take reports from now on."""
        if moving:
            self._fixed.discard(source_id)
            self._tracks.setdefault(source_id, PositionTrack(self._max_points))
        else:
            self._tracks.pop(source_id, None)
            self._fixed.add(source_id)

    def report(self, source_id: str, lng: float, lat: float, timestamp: float) -> Position:
        """Record one report; raises UnknownSource, NotAMovingSource or ValueError (bad coordinates)."""
        track = self._tracks.get(source_id)
        if track is None:
            if source_id in self._fixed:
                raise NotAMovingSource(f"source {source_id!r} is a fixed camera; only enforcement "
                                       "(moving) sources take position reports")
            raise UnknownSource(source_id)
        position = Position(float(lng), float(lat), float(timestamp))
        track.add(position)
        return position

    def nearest(self, source_id: str, t: float) -> Position | None:
        track = self._tracks.get(source_id)
        return None if track is None else track.nearest(t, self.max_skew_s)

    def is_moving(self, source_id: str) -> bool:
        return source_id in self._tracks
