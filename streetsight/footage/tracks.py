"""Position tracks of recorded footage: GPX (gpxpy), NMEA 0183 (pynmea2) or CSV ``time,lng,lat``, and the
position at a frame's wall time, interpolated between the two points around it.

A frame with no track point within ``max_gap_s`` on both sides (or before the first / after the last point by
more than that) has no position: it is reported unpositioned, never guessed.
"""
from __future__ import annotations

import bisect
import csv
import io
import math
from dataclasses import dataclass
from datetime import date, datetime, timezone

TRACK_FORMATS = ("gpx", "nmea", "csv")


class TrackError(ValueError):
    """The track cannot be read (format, a bad line, no point with a time)."""


@dataclass(frozen=True, slots=True)
class TrackPoint:
    time: float  # unix seconds
    lng: float
    lat: float


def _checked(t: float, lng: float, lat: float, where: str) -> TrackPoint:
    if not (math.isfinite(t) and math.isfinite(lng) and math.isfinite(lat)):
        raise TrackError(f"{where}: not a number")
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise TrackError(f"{where}: lng {lng} / lat {lat} outside -180..180 / -90..90")
    return TrackPoint(t, lng, lat)


def detect_format(filename: str, data: bytes) -> str:
    """From the file's extension, else its first bytes."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext in TRACK_FORMATS:
        return ext
    if ext in ("nmea", "nma", "log", "txt") and data.lstrip()[:1] == b"$":
        return "nmea"
    head = data.lstrip()[:200]
    if head.startswith(b"<"):
        return "gpx"
    if head.startswith(b"$") or head.startswith(b"!"):
        return "nmea"
    return "csv"


def parse_track(data: bytes, fmt: str) -> list[TrackPoint]:
    """The points in time order; raises TrackError naming what is wrong."""
    if fmt not in TRACK_FORMATS:
        raise TrackError(f"unknown track format {fmt!r}; one of {', '.join(TRACK_FORMATS)}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TrackError("not UTF-8 text") from None
    points = {"gpx": _gpx, "nmea": _nmea, "csv": _csv}[fmt](text)
    if not points:
        raise TrackError(f"no {fmt.upper()} point with a time and a position")
    return sorted(points, key=lambda p: p.time)


def _gpx(text: str) -> list[TrackPoint]:
    import gpxpy
    import gpxpy.gpx

    try:
        gpx = gpxpy.parse(text)
    except gpxpy.gpx.GPXException as exc:
        raise TrackError(f"GPX: {exc}") from None
    out = []
    for track in gpx.tracks:
        for segment in track.segments:
            for p in segment.points:
                if p.time is not None:
                    when = p.time if p.time.tzinfo else p.time.replace(tzinfo=timezone.utc)
                    out.append(_checked(when.timestamp(), p.longitude, p.latitude, f"GPX point at {when}"))
    return out


def _nmea(text: str) -> list[TrackPoint]:
    """RMC sentences carry date and time; GGA only the time, dated by the last RMC."""
    import pynmea2

    out: list[TrackPoint] = []
    day: date | None = None
    pending = []  # GGA before the first RMC gave a date
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line.startswith("$"):
            continue
        try:
            msg = pynmea2.parse(line)
        except pynmea2.ParseError as exc:
            raise TrackError(f"NMEA line {n}: {exc}") from None
        kind = getattr(msg, "sentence_type", "")
        if kind == "RMC":
            if getattr(msg, "status", "A") != "A" or not msg.datestamp or not msg.timestamp:
                continue  # no fix
            day = msg.datestamp
            when = datetime.combine(day, msg.timestamp).replace(tzinfo=timezone.utc)
            out.append(_checked(when.timestamp(), msg.longitude, msg.latitude, f"NMEA line {n}"))
        elif kind == "GGA" and msg.timestamp and int(msg.gps_qual or 0) > 0:
            pending.append((n, msg)) if day is None else out.append(_gga(day, msg, n))
    if day is not None:
        out.extend(_gga(day, msg, n) for n, msg in pending)
    return list({p.time: p for p in out}.values())  # RMC and GGA of one fix: one point


def _gga(day: date, msg, n: int) -> TrackPoint:
    when = datetime.combine(day, msg.timestamp).replace(tzinfo=timezone.utc)
    return _checked(when.timestamp(), msg.longitude, msg.latitude, f"NMEA line {n}")


def parse_time(value: str) -> float:
    """Unix seconds, or an ISO 8601 time (UTC when it names no zone)."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TrackError(f"time {value!r} is neither unix seconds nor ISO 8601") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _csv(text: str) -> list[TrackPoint]:
    out = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if n == 1 and row[0].strip().lower() == "time":
            continue  # header
        if len(row) < 3:
            raise TrackError(f"CSV line {n}: expected time,lng,lat")
        try:
            lng, lat = float(row[1]), float(row[2])
        except ValueError:
            raise TrackError(f"CSV line {n}: lng and lat must be numbers") from None
        out.append(_checked(parse_time(row[0]), lng, lat, f"CSV line {n}"))
    return out


class Track:
    """Interpolated positions along a time-sorted track."""

    def __init__(self, points: list[TrackPoint], max_gap_s: float = 10.0) -> None:
        self.points = sorted(points, key=lambda p: p.time)
        self._times = [p.time for p in self.points]
        self.max_gap_s = max_gap_s

    @property
    def span(self) -> tuple[float, float] | None:
        return (self._times[0], self._times[-1]) if self.points else None

    def overlaps(self, start: float, end: float) -> bool:
        """Whether any instant of [start, end] has a position."""
        if not self.points:
            return False
        first, last = self.span  # type: ignore[misc]
        return first - self.max_gap_s <= end and last + self.max_gap_s >= start

    def at(self, t: float) -> dict[str, float] | None:
        """``{"lng", "lat", "timestamp": t}`` at unix time ``t``, or None when no point is near enough."""
        if not self.points:
            return None
        i = bisect.bisect_left(self._times, t)
        after = self.points[i] if i < len(self.points) else None
        before = self.points[i - 1] if i > 0 else None
        if after is not None and after.time == t:
            return {"lng": after.lng, "lat": after.lat, "timestamp": t}
        if before is not None and after is not None and after.time - before.time <= 2 * self.max_gap_s \
                and min(t - before.time, after.time - t) <= self.max_gap_s:
            f = (t - before.time) / (after.time - before.time)
            return {"lng": before.lng + f * (after.lng - before.lng),
                    "lat": before.lat + f * (after.lat - before.lat), "timestamp": t}
        near = [p for p in (before, after) if p is not None and abs(p.time - t) <= self.max_gap_s]
        if not near:
            return None
        p = min(near, key=lambda q: abs(q.time - t))  # at the ends of the track: the end point itself
        return {"lng": p.lng, "lat": p.lat, "timestamp": t}
