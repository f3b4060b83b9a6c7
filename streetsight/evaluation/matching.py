"""Event-level matching: an incident matches a labelled event of the same type when their time spans
overlap and their boxes overlap (IoU >= ``min_iou`` or one box's centre lies in the other). Matching is
one-to-one, so a second incident for the same violation is a false positive."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Sequence

from streetsight.evaluation.annotations import LabelledEvent

Box = tuple[float, float, float, float]


@dataclass
class FoundIncident:
    video: str
    type: str
    started_at: float
    confirmed_at: float
    ended_at: float | None
    box: Box
    id: str = ""
    zone: str = ""
    class_name: str = ""
    score: float = 0.0
    snapshot: str | None = None
    snapshot_raw: str | None = None  # the frame without drawings: where the learning mode cuts the object's crop
    plate: str | None = None  # the plate read (normalised), if the incident has a vehicle
    plate_uncertain: bool | None = None
    shop: dict | None = None  # shop fronts: the shop responsible ({name, source, confidence})


@dataclass
class Match:
    incident: FoundIncident
    event: LabelledEvent

    @property
    def time_to_detection(self) -> float:
        return self.incident.confirmed_at - self.event.start_s


@dataclass
class VideoResult:
    video: str
    duration_s: float
    matches: list[Match] = field(default_factory=list)
    false_positives: list[FoundIncident] = field(default_factory=list)
    missed: list[LabelledEvent] = field(default_factory=list)


def iou(a: Box, b: Box) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _centre_in(a: Box, b: Box) -> bool:
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]


def boxes_overlap(a: Box, b: Box, min_iou: float = 0.1) -> bool:
    return iou(a, b) >= min_iou or _centre_in(a, b) or _centre_in(b, a)


def spans_overlap(inc: FoundIncident, ev: LabelledEvent, duration_s: float) -> bool:
    inc_end = inc.ended_at if inc.ended_at is not None else duration_s
    ev_end = ev.end_s if ev.end_s is not None else duration_s
    return inc.started_at <= ev_end and ev.start_s <= max(inc_end, inc.confirmed_at)


def match_video(video: str, incidents: Sequence[FoundIncident], events: Sequence[LabelledEvent],
                duration_s: float, min_iou: float = 0.1) -> VideoResult:
    pairs = []
    for i, inc in enumerate(incidents):
        for j, ev in enumerate(events):
            if inc.type != ev.type or not spans_overlap(inc, ev, duration_s):
                continue
            box = ev.box_near(inc.confirmed_at)
            if box is not None and not boxes_overlap(inc.box, box, min_iou):
                continue
            pairs.append((iou(inc.box, box) if box else 0.0, -abs(inc.confirmed_at - ev.start_s), i, j))
    pairs.sort(reverse=True)
    used_i, used_j = set(), set()
    result = VideoResult(video, duration_s)
    for _, _, i, j in pairs:
        if i in used_i or j in used_j:
            continue
        used_i.add(i)
        used_j.add(j)
        result.matches.append(Match(incidents[i], events[j]))
    result.false_positives = [inc for i, inc in enumerate(incidents) if i not in used_i]
    result.missed = [ev for j, ev in enumerate(events) if j not in used_j]
    return result


@dataclass
class TypeScore:
    type: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    ttd: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        def rnd(v: float | None) -> float | None:
            return None if v is None else round(v, 4)

        return {"type": self.type, "tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": rnd(self.precision),
                "recall": rnd(self.recall), "f1": rnd(self.f1),
                "ttd_mean_s": rnd(statistics.fmean(self.ttd)) if self.ttd else None,
                "ttd_median_s": rnd(statistics.median(self.ttd)) if self.ttd else None,
                "ttd_max_s": rnd(max(self.ttd)) if self.ttd else None}


def plate_accuracy(results: Sequence[VideoResult]) -> dict | None:
    """Exact plate reads over the matched events labelled with a plate (None when no event has a plate).
    A miss of a matched event counts as not read; uncertain reads count as reads (exact or not)."""
    from vision.plates import normalise_plate

    labelled = [m for r in results for m in r.matches if m.event.plate]
    unmatched = sum(1 for r in results for e in r.missed if e.plate)
    if not labelled and not unmatched:
        return None
    exact = [m for m in labelled if m.incident.plate == normalise_plate(m.event.plate)[0]]
    exact_ids = {id(m) for m in exact}
    return {
        "labelled": len(labelled) + unmatched, "detected": len(labelled),
        "read": sum(1 for m in labelled if m.incident.plate), "exact": len(exact),
        "exact_rate": round(len(exact) / (len(labelled) + unmatched), 4),
        "uncertain": sum(1 for m in labelled if m.incident.plate_uncertain),
        "wrong": [{"event": m.event.id, "truth": m.event.plate, "read": m.incident.plate,
                   "uncertain": m.incident.plate_uncertain} for m in labelled if id(m) not in exact_ids],
    }


def score(results: Sequence[VideoResult], types: Sequence[str]) -> dict[str, TypeScore]:
    """Per event type and ``"all"`` (micro-averaged)."""
    scores = {t: TypeScore(t) for t in types}
    total = TypeScore("all")
    for r in results:
        for m in r.matches:
            for s in (scores.setdefault(m.event.type, TypeScore(m.event.type)), total):
                s.tp += 1
                s.ttd.append(m.time_to_detection)
        for inc in r.false_positives:
            for s in (scores.setdefault(inc.type, TypeScore(inc.type)), total):
                s.fp += 1
        for ev in r.missed:
            for s in (scores.setdefault(ev.type, TypeScore(ev.type)), total):
                s.fn += 1
    scores["all"] = total
    return scores
