"""The dwell rule: an object of given classes standing still inside a zone for long enough.

It judges ``illegal_parking`` (cars, trucks, buses) and, with other classes, ``non_motor_parking``; the
street-vending, debris and bin rules feed it candidates of their own making (``classes=None``).
One incident per violation: the incident is tied to the *spot* (the box where the object stands), not to a
tracker id, so a track that is lost and found again under a new id refreshes the same incident instead
of opening a second one. An incident ends when its spot has been empty for ``leave_after_s``; after that
the same spot opens no new incident for ``cooldown_s``.

Incidents of an earlier owner of the camera (another worker, or this service before a restart or a crash)
are continued (`adopt`): matched by place, since the media clock restarts with the stream, and kept in
their own clock so their age stays the wall-time age. One not seen again within ``leave_after_s`` of the
restart ends with ``ended_reason`` ``interrupted``: it left while nobody watched.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import supervision as sv

from detectors.context import FrameContext
from detectors.incidents import INTERRUPTED, Incident, IncidentEvent
from detectors.progress import Candidate
from detectors.schedule import AllowedHours
from detectors.stationarity import MotionWindow, iou
from detectors.timed_shots import ShotEncoder, ShotPlan, ShotRoll
from vision.zones import Zone

SAME_SPOT_IOU = 0.5


@dataclass(frozen=True)
class DwellParams:
    classes: tuple[str, ...] | None  # None: every detection handed in (rules that make their own candidates)
    min_score: float = 0.35  # per detection
    min_dwell_s: float = 60.0
    stationary_tolerance: float = 0.35  # fraction of the box diagonal
    motion_window_s: float = 10.0
    max_gap_s: float = 5.0
    leave_after_s: float = 30.0
    cooldown_s: float = 600.0
    min_median_score: float | None = None  # over the dwell; default min_score
    allowed_hours: AllowedHours = AllowedHours(())
    min_tolerance_px: float = 3.0  # small boxes: allow at least this much jitter

    @property
    def median_threshold(self) -> float:
        return self.min_score if self.min_median_score is None else self.min_median_score


@dataclass
class _Track:
    motion: MotionWindow
    dwell_start: float
    last_seen: float
    scores: list[float] = field(default_factory=list)
    shots: ShotRoll = field(default_factory=ShotRoll)  # pictures of this dwell so far (see ShotPlan)
    box: np.ndarray | None = None  # last seen, for previews
    class_name: str = ""


@dataclass
class _Spot:
    incident: Incident
    box: np.ndarray
    offset: float = 0.0  # the incident's clock minus this rule's media clock (non-zero for adopted ones)
    seen_here: bool = True  # False: adopted and not seen again since
    grace_until: float | None = None  # adopted: our media time by which it must be seen again

    def clock(self, t: float) -> float:
        """Our media time ``t`` in the incident's clock."""
        return t + self.offset


class DwellRule:
    needs_image = False

    def __init__(self, event_type: str, source_id: str, zones: Sequence[Zone], params: DwellParams,
                 labels: dict | None = None, shots: ShotPlan | None = None) -> None:
        self.event_type = event_type
        self.shots = shots  # None: no timed snapshots (the frame at confirmation is still the snapshot)
        self._encoder = ShotEncoder(shots) if shots is not None else None
        self.source_id = source_id
        self.zones = [z for z in zones if event_type in z.events]
        self.params = params
        self.labels = dict(labels or {})
        self._tracks: dict[tuple[str, int], _Track] = {}
        self._open: dict[str, list[_Spot]] = {z.id: [] for z in self.zones}
        self._recent: dict[str, list[_Spot]] = {z.id: [] for z in self.zones}
        self._adopted: list[tuple[_Spot, float]] = []  # (spot, wall s since last seen): placed at our next frame
        self._remembered: list[tuple[_Spot, float]] = []  # recently ended elsewhere, with seconds since

    @property
    def open_incidents(self) -> list[Incident]:
        return [s.incident for spots in self._open.values() for s in spots]

    def adopt(self, incident: Incident, seen_ago_s: float = 0.0) -> bool:
        """Continue an incident opened by an earlier owner of this camera (another worker, or this service
        before a restart), last seen ``seen_ago_s`` wall seconds ago: the object standing on its spot keeps
        it open and no second incident opens there; then it ends as usual when the spot has been empty for
        ``leave_after_s``. Not seen within ``leave_after_s`` of our first frame, it ends ``interrupted`` at
        its last sighting. False when the incident is not this rule's."""
        if incident.type != self.event_type or incident.zone_id not in self._open:
            return False
        if any(s.incident.id == incident.id for s in self._open[incident.zone_id]):
            return True
        spot = _Spot(incident, np.asarray(incident.box, dtype=float), seen_here=False)
        self._open[incident.zone_id].append(spot)
        self._adopted.append((spot, max(0.0, seen_ago_s)))
        return True

    def remember(self, incident: Incident, ended_ago_s: float) -> bool:
        """An incident another worker ended on this camera ``ended_ago_s`` seconds ago (scale-out
        handover): its spot stays in cooldown here as it would have there, so a car that re-parks on it
        opens nothing new until ``cooldown_s`` after it was last seen. False when it is not this rule's."""
        if incident.type != self.event_type or incident.zone_id not in self._recent:
            return False
        if all(s.incident.id != incident.id for s in self._recent[incident.zone_id]):
            spot = _Spot(incident, np.asarray(incident.box, dtype=float))
            self._recent[incident.zone_id].append(spot)
            self._remembered.append((spot, max(0.0, ended_ago_s)))
        return True

    def in_progress(self) -> list[Candidate]:
        """Objects dwelling in a zone (seconds stood still so far) and the open incidents' spots."""
        p = self.params
        out = [Candidate(self.event_type, zone_id, track_id, t.class_name, tuple(float(v) for v in t.box),
                         statistics.median(t.scores) if t.scores else 0.0, t.last_seen - t.dwell_start,
                         p.min_dwell_s, "s")
               for (zone_id, track_id), t in self._tracks.items()
               if t.box is not None and not any(iou(t.box, s.box) >= SAME_SPOT_IOU for s in self._open[zone_id])]
        for zone_id, spots in self._open.items():
            for spot in spots:
                inc = spot.incident
                out.append(Candidate(self.event_type, zone_id, inc.track_id, inc.class_name,
                                     tuple(float(v) for v in spot.box), inc.score, inc.last_seen_at - inc.started_at,
                                     p.min_dwell_s, "s", inc.id))
        return out

    def update(self, detections: sv.Detections, t: float, width: int, height: int) -> list[IncidentEvent]:
        """Feed one analysed frame's tracked detections (with ``tracker_id`` and ``class_name``)."""
        return self.observe(FrameContext(t, width, height), detections)

    def observe(self, frame: FrameContext, detections: sv.Detections) -> list[IncidentEvent]:
        p = self.params
        t, width, height = frame.time_s, frame.width, frame.height
        events: list[IncidentEvent] = []
        for spot, ago in self._adopted:  # media clocks differ between owners: continue the incident's clock
            spot.offset = spot.incident.last_seen_at + ago - t
            spot.grace_until = t + p.leave_after_s
        self._adopted.clear()
        for spot, ago in self._remembered:  # ended ``ago`` s before the handover, leave_after_s after last seen
            spot.incident.last_seen_at = t - ago - p.leave_after_s
        self._remembered.clear()
        if p.allowed_hours.allows(frame.local_time):
            self._tracks.clear()  # permitted now: no dwell accumulates; it starts afresh when the window ends
        elif len(detections) and detections.tracker_id is not None:
            wanted = self._wanted(detections)
            for zone in self.zones:
                mask = wanted & zone.contains(detections, width, height)
                for i in np.flatnonzero(mask):
                    event = self._observe(zone, detections, int(i), frame)
                    if event:
                        events.append(event)
        events.extend(self._expire(t))
        return events

    def finish(self) -> list[IncidentEvent]:
        """End of the source: every open incident ends where its object was last seen."""
        return self._expire(float("inf"))

    # -- internals -------------------------------------------------------------------------------

    def _wanted(self, dets: sv.Detections) -> np.ndarray:
        p = self.params
        if p.classes is None:
            wanted = np.ones(len(dets), dtype=bool)
        else:
            names = dets.data.get("class_name")
            wanted = np.array([n in p.classes for n in names], dtype=bool) if names is not None \
                else np.zeros(len(dets), dtype=bool)
        return wanted & (dets.confidence >= p.min_score)

    def _observe(self, zone: Zone, dets: sv.Detections, i: int, frame: FrameContext) -> IncidentEvent | None:
        p = self.params
        t = frame.time_s
        box = dets.xyxy[i].astype(np.float64)
        score = float(dets.confidence[i])
        key = (zone.id, int(dets.tracker_id[i]))

        # An object standing on an open incident's spot keeps that incident alive, whatever its track id.
        for spot in self._open[zone.id]:
            if iou(box, spot.box) >= SAME_SPOT_IOU:
                spot.incident.last_seen_at = spot.clock(t)
                spot.seen_here = True
                return None

        track = self._tracks.get(key)
        # a clock that went back (the stream restarted; frames of the camera's previous reader were still
        # queued) starts the dwell afresh rather than waiting for the new clock to pass the old one
        if track is None or t - track.last_seen > p.max_gap_s or t < track.last_seen:
            track = _Track(MotionWindow(p.motion_window_s, p.stationary_tolerance, p.min_tolerance_px),
                           dwell_start=t, last_seen=t)
            self._tracks[key] = track
        if not track.motion.add(t, box):
            # It moved: the dwell clock starts again from here.
            track.motion.reset()
            track.motion.add(t, box)
            track.dwell_start = t
            track.scores.clear()
            track.shots.clear()
        track.last_seen = t
        track.scores.append(score)
        track.box = box
        names = dets.data.get("class_name")
        track.class_name = str(names[i]) if names is not None else self.event_type
        self._take_shot(track, frame, box)

        median = statistics.median(track.scores)
        if t - track.dwell_start < p.min_dwell_s or median < p.median_threshold:
            return None
        if self._cooling_down(zone.id, box, t):
            return None
        incident = Incident(
            type=self.event_type,
            source_id=self.source_id,
            zone_id=zone.id,
            track_id=key[1],
            class_name=track.class_name,
            started_at=track.dwell_start,
            confirmed_at=t,
            box=tuple(float(v) for v in box),
            score=float(median),
            frame_size=(frame.width, frame.height),
            zone_polygon=zone.polygon.tolist(),
            last_seen_at=t,
            labels=dict(self.labels),
        )
        self._open[zone.id].append(_Spot(incident, box))
        shots = []
        if self._encoder is not None and frame.image is not None:
            shots = track.shots.confirm(self._encoder, frame.image, t, box)
        return IncidentEvent("opened", incident, shots=shots)

    def _take_shot(self, track: _Track, frame: FrameContext, box: np.ndarray) -> None:
        """Keep this frame if the next timed snapshot of the dwell is due."""
        if self._encoder is not None and frame.image is not None:
            track.shots.observe(self._encoder, frame.image, frame.time_s, box, track.dwell_start,
                                self.params.min_dwell_s)

    def _cooling_down(self, zone_id: str, box: np.ndarray, t: float) -> bool:
        recent = [s for s in self._recent[zone_id] if s.clock(t) - s.incident.last_seen_at < self.params.cooldown_s]
        self._recent[zone_id] = recent
        return any(iou(box, s.box) >= SAME_SPOT_IOU for s in recent)

    def _expire(self, t: float) -> list[IncidentEvent]:
        p = self.params
        self._tracks = {k: v for k, v in self._tracks.items() if t - v.last_seen <= p.max_gap_s}
        events = []
        for zone_id, spots in self._open.items():
            still_open = []
            for spot in spots:
                if spot.seen_here:
                    gone, reason = spot.clock(t) - spot.incident.last_seen_at > p.leave_after_s, None
                else:  # adopted and never seen again: it left while nobody watched
                    gone, reason = spot.grace_until is None or t > spot.grace_until, INTERRUPTED
                if gone:
                    spot.incident.ended_at = spot.incident.last_seen_at
                    spot.incident.ended_reason = reason
                    self._recent[zone_id].append(spot)
                    events.append(IncidentEvent("ended", spot.incident))
                else:
                    still_open.append(spot)
            self._open[zone_id] = still_open
        return events
