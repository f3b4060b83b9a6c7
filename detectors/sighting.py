"""Moving cameras (``enforcement`` sources): a violation is confirmed by k detections in n frames.

Dwell inside a frame zone means nothing when the camera moves, so a track (or rule-made candidate) seen in
at least ``confirm_hits`` of the last ``confirm_frames`` analysed frames is a finding. The device's
position (``FrameContext.position``) is attached, and findings of the same type within a radius and
time window, from this or any other device, are merged into one incident by a shared `GeoMerger`.
"""
from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import supervision as sv

from detectors.context import FrameContext
from detectors.geo import GeoMerger, Merger
from detectors.incidents import Incident, IncidentEvent
from detectors.progress import Candidate
from vision.zones import Zone


@dataclass(frozen=True)
class SightingParams:
    classes: tuple[str, ...] | None
    min_score: float = 0.35
    min_median_score: float | None = None
    confirm_hits: int = 3
    confirm_frames: int = 5
    leave_after_s: float = 30.0  # the camera has moved on: the incident ends
    merge_radius_m: float = 30.0
    merge_window_s: float = 600.0


@dataclass
class _Track:
    frames: deque = field(default_factory=deque)  # analysed-frame indices with a hit
    scores: list[float] = field(default_factory=list)
    incident: Incident | None = None
    first_seen: float | None = None
    last_seen: float = 0.0
    box: tuple[float, float, float, float] | None = None  # last seen, for previews
    class_name: str = ""


class SightingRule:
    needs_image = False

    def __init__(self, event_type: str, source_id: str, zones: Sequence[Zone], params: SightingParams,
                 merger: Merger | None = None, labels: dict | None = None) -> None:
        self.event_type = event_type
        self.source_id = source_id
        self.zones = [z for z in zones if event_type in z.events]
        self.params = params
        self.merger: Merger = merger or GeoMerger()
        self.labels = dict(labels or {})
        self._tracks: dict[tuple[str, int], _Track] = {}
        self._frame = 0
        self._open: list[Incident] = []
        self._adopted: list[Incident] = []  # handed over: their clock restarts at this worker's next frame

    @property
    def open_incidents(self) -> list[Incident]:
        return list(self._open)

    def adopt(self, incident: Incident, seen_ago_s: float = 0.0) -> bool:
        """Continue an incident that another worker opened on this device (scale-out handover): it stays
        open while the device keeps seeing the finding, and ends ``leave_after_s`` after the last sighting;
        no second incident opens for it. False when the incident is not this rule's. (``seen_ago_s``: unused;
        a moving camera's incident is tied to a place, not to the device's clock.)"""
        if incident.type != self.event_type or incident.zone_id not in {z.id for z in self.zones}:
            return False
        if all(inc.id != incident.id for inc in self._open):
            self._open.append(incident)
            self._adopted.append(incident)
            self.merger.adopt(incident)
        return True

    def in_progress(self) -> list[Candidate]:
        """Tracks with their hits in the current window (an incident's already open ones included)."""
        return [Candidate(self.event_type, zone_id, track_id, t.class_name, t.box,
                          statistics.median(t.scores) if t.scores else 0.0, float(len(t.frames)),
                          float(self.params.confirm_hits), "hits", t.incident.id if t.incident else None)
                for (zone_id, track_id), t in self._tracks.items() if t.box is not None]

    def observe(self, frame: FrameContext, detections: sv.Detections) -> list[IncidentEvent]:
        p = self.params
        self._frame += 1
        for inc in self._adopted:  # media clocks differ between workers: count from this frame
            inc.last_seen_at = frame.time_s
        self._adopted.clear()
        events: list[IncidentEvent] = []
        if len(detections) and detections.tracker_id is not None:
            names = detections.data.get("class_name")
            wanted = detections.confidence >= p.min_score
            if p.classes is not None:
                wanted &= np.array([n in p.classes for n in names], dtype=bool)
            for zone in self.zones:
                for i in np.flatnonzero(wanted & zone.contains(detections, frame.width, frame.height)):
                    event = self._hit(zone, detections, int(i), frame)
                    if event:
                        events.append(event)
        events.extend(self._expire(frame.time_s))
        return events

    def finish(self) -> list[IncidentEvent]:
        return self._expire(float("inf"))

    def _hit(self, zone: Zone, dets: sv.Detections, i: int, frame: FrameContext) -> IncidentEvent | None:
        p = self.params
        key = (zone.id, int(dets.tracker_id[i]))
        track = self._tracks.setdefault(key, _Track())
        if track.first_seen is None or not track.frames:
            track.first_seen = frame.time_s
        track.last_seen = frame.time_s
        track.box = tuple(float(v) for v in dets.xyxy[i])
        names = dets.data.get("class_name")
        track.class_name = str(names[i]) if names is not None else self.event_type
        track.frames.append(self._frame)
        track.scores.append(float(dets.confidence[i]))
        while track.frames and self._frame - track.frames[0] >= p.confirm_frames:
            track.frames.popleft()
        if track.incident is not None:
            track.incident.last_seen_at = frame.time_s
            if frame.position is not None:
                self.merger.seen(track.incident, frame.position)
            return None
        median_needed = p.min_score if p.min_median_score is None else p.min_median_score
        if len(track.frames) < p.confirm_hits or statistics.median(track.scores) < median_needed:
            return None
        names = dets.data.get("class_name")
        box = dets.xyxy[i]
        incident = Incident(
            type=self.event_type, source_id=self.source_id, zone_id=zone.id, track_id=key[1],
            class_name=str(names[i]) if names is not None else self.event_type,
            started_at=track.first_seen if track.first_seen is not None else frame.time_s,
            confirmed_at=frame.time_s, box=tuple(float(v) for v in box),
            score=float(statistics.median(track.scores)), frame_size=(frame.width, frame.height),
            zone_polygon=zone.polygon.tolist(), last_seen_at=frame.time_s, labels=dict(self.labels),
            extra={"devices": [self.source_id]},
        )
        position = frame.position
        if position is not None:
            incident.extra["position"] = {k: position[k] for k in ("lng", "lat", "timestamp") if k in position}
            # one step: join the finding already there, or register this one (two devices confirming at
            # the same moment must not both find nothing and both open)
            existing = self.merger.claim(incident, position, p.merge_radius_m, p.merge_window_s)
            if existing is not None:  # seen before, by this device or another: one incident
                self.merger.joined(existing, self.source_id)
                track.incident = existing
                if existing.source_id == self.source_id and existing.last_seen_at < frame.time_s:
                    existing.last_seen_at = frame.time_s
                return None
        track.incident = incident
        self._open.append(incident)
        return IncidentEvent("opened", incident)

    def _expire(self, t: float) -> list[IncidentEvent]:
        p = self.params
        self._tracks = {k: v for k, v in self._tracks.items() if t - v.last_seen <= p.leave_after_s}
        events, still = [], []
        for inc in self._open:
            if t - inc.last_seen_at > p.leave_after_s:
                inc.ended_at = inc.last_seen_at
                inc.extra["devices"] = self.merger.devices(inc)
                events.append(IncidentEvent("ended", inc))
            else:
                still.append(inc)
        self._open = still
        return events
