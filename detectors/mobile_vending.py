"""Mobile vending (无照游商 / 流动商贩): a vendor with a cart, tricycle or loaded bike who keeps stopping.

A fixed stall stands still (detectors/vending.py); a mobile vendor moves along the street and stops to sell,
again and again. A candidate is a carrier (``carrier_classes``) with the people beside it (single linkage as in
`vending.clusters`), under the carrier's track id: the cart keeps its track while the vendor walks between stops,
when the person beside it is easily lost. Each carrier counts its *stops*: standing still (`MotionWindow`) inside
a zone for ``min_stop_s`` with a person beside it. Once it has made ``min_stops`` stops within ``window_s`` (or
one stop has lasted ``min_dwell_s``) it is a mobile vendor, and from then on it is handed to the core (a
`SightingRule`: one incident per vendor, kept open while it is seen, ended ``leave_after_s`` after). A delivery
that stops once briefly, and anyone passing without stopping, never reach the core.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import supervision as sv

from detectors.candidates import BoxTracker, candidate_detections
from detectors.context import FrameContext
from detectors.incidents import IncidentEvent
from detectors.rule import CandidateRule, Core
from detectors.stationarity import MotionWindow
from detectors.vending import clusters


@dataclass(frozen=True)
class MobileVendingParams:
    carrier_classes: tuple[str, ...]
    person_classes: tuple[str, ...] = ("person",)
    cluster_gap: float = 0.5
    min_score: float = 0.3
    min_stops: int = 2
    min_stop_s: float = 8.0
    window_s: float = 600.0
    min_dwell_s: float = 60.0
    stationary_tolerance: float = 0.3
    motion_window_s: float = 4.0
    forget_after_s: float = 30.0  # a cluster unseen this long is forgotten with its stops


@dataclass
class _Stops:
    motion: MotionWindow
    still_since: float | None = None  # start of the current stop (standing still inside a zone)
    counted: bool = False  # the current stop has been counted
    stops: deque = field(default_factory=deque)  # start times of counted stops
    last_seen: float = 0.0
    vendor: bool = False  # qualified: handed to the core from now on

    def update(self, t: float, box: np.ndarray, in_zone: bool, p: MobileVendingParams) -> bool:
        still = self.motion.add(t, box)
        if not still:
            self.motion.reset()
            self.motion.add(t, box)
        if not (still and in_zone):
            self.still_since, self.counted = None, False
        elif self.still_since is None:
            self.still_since = t
        elif not self.counted and t - self.still_since >= p.min_stop_s:
            self.stops.append(self.still_since)
            self.counted = True
        while self.stops and t - self.stops[0] > p.window_s:
            self.stops.popleft()
        stayed = self.still_since is not None and t - self.still_since >= p.min_dwell_s
        self.vendor = self.vendor or len(self.stops) >= p.min_stops or stayed
        self.last_seen = t
        return self.vendor


class MobileVendingRule(CandidateRule):
    def __init__(self, core: Core, params: MobileVendingParams) -> None:
        super().__init__(core)
        self.params = params
        self._ids = BoxTracker(min_iou=0.2, max_age=20)  # for detections that come without track ids
        self._stops: dict[int, _Stops] = {}

    def stops(self, track_id: int) -> int:
        """Stops counted so far for a carrier's track (tests, previews)."""
        s = self._stops.get(track_id)
        return len(s.stops) if s else 0

    def observe(self, frame: FrameContext, detections: sv.Detections) -> list[IncidentEvent]:
        events = super().observe(frame, detections)
        for event in events:  # the violation began with the first stop, not when the stops added up
            s = self._stops.get(event.incident.track_id)
            if event.kind == "opened" and s is not None and s.stops:
                event.incident.started_at = min(event.incident.started_at, float(s.stops[0]))
        return events

    def candidates(self, frame: FrameContext, detections: sv.Detections) -> sv.Detections:
        """One candidate per carrier: the carrier's track (it keeps its id while the vendor walks between stops,
        when a person beside it is easily lost) with the people beside it. A stop counts only with a person."""
        p = self.params
        t = frame.time_s
        self._stops = {k: v for k, v in self._stops.items() if t - v.last_seen <= p.forget_after_s}
        if not len(detections):
            self._ids.track(detections)
            return sv.Detections.empty()
        labels = detections.data.get("class_name", np.array([""] * len(detections), dtype=object))
        keep = (detections.confidence >= p.min_score) & np.array(
            [n in p.carrier_classes or n in p.person_classes for n in labels], dtype=bool)
        idx = np.flatnonzero(keep)
        carriers = [i for i in idx if labels[i] in p.carrier_classes]
        if not carriers:
            return sv.Detections.empty()
        ids = detections.tracker_id if detections.tracker_id is not None else None
        if ids is None:
            ids = np.zeros(len(detections), dtype=int)
            ids[carriers] = self._ids.assign(detections.xyxy[carriers])
        groups = clusters(detections.xyxy[idx].astype(np.float64), p.cluster_gap)
        boxes, scores, names, tids, vendor = [], [], [], [], []
        for c in carriers:
            group = next(g for g in groups if int(np.flatnonzero(idx == c)[0]) in g)
            people = [int(idx[g]) for g in group if labels[idx[g]] in p.person_classes]
            members = detections.xyxy[[c] + people]
            box = [members[:, 0].min(), members[:, 1].min(), members[:, 2].max(), members[:, 3].max()]
            anchor = detections[[c]]
            in_zone = any(bool(z.contains(anchor, frame.width, frame.height)[0]) for z in self.zones)
            s = self._stops.setdefault(int(ids[c]), _Stops(MotionWindow(p.motion_window_s, p.stationary_tolerance, 3.0)))
            vendor.append(s.update(t, detections.xyxy[c].astype(np.float64), in_zone and bool(people), p))
            boxes.append(box)
            scores.append(float(detections.confidence[c]))
            names.append(str(labels[c]) + ("+person" if people else ""))
            tids.append(int(ids[c]))
        cands = candidate_detections(boxes, scores, names, tids)
        return cands[np.asarray(vendor, dtype=bool)]
