"""A candidate model in shadow against the serving one, judged by the reviewers' decisions (issue 19 item 2).

Where a candidate (shadow) incident overlaps a serving incident (same camera and type, boxes overlapping by
``MATCH_IOU``, media times within ``MATCH_S``), the reviewer's decision on the serving incident judges both.
The candidate's own extra incidents are judged by the decisions on those sampled into the shadow review queue.
A confirmed incident that one model found and the other did not counts against the other's recall.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .schemas import SHADOW_STATUSES, IncidentOut

MATCH_IOU = 0.3
MATCH_S = 30.0  # media seconds between the two models' starts of one violation


@dataclass
class ModelScore:
    """One model's count on the measured set: true and false positives, confirmed incidents it missed."""

    tp: int = 0
    fp: int = 0
    missed: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.missed) if self.tp + self.missed else None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"tp": self.tp, "fp": self.fp, "missed": self.missed, "precision": _round(self.precision),
                "recall": _round(self.recall)}


@dataclass
class Cell:
    """The comparison on one (type, camera)."""

    serving: ModelScore = field(default_factory=ModelScore)
    candidate: ModelScore = field(default_factory=ModelScore)
    matched: int = 0  # incidents both models found
    extra_unjudged: int = 0  # the candidate's own incidents nobody has decided yet
    extra_judged: int = 0  # the candidate's own incidents decided in the shadow review queue
    serving_unjudged: int = 0

    @property
    def judged(self) -> int:
        """Decisions the comparison rests on: on serving incidents, and on the candidate's own ones."""
        return self.serving.tp + self.serving.fp + self.extra_judged

    def add(self, other: "Cell") -> None:
        for mine, theirs in ((self.serving, other.serving), (self.candidate, other.candidate)):
            mine.tp, mine.fp, mine.missed = mine.tp + theirs.tp, mine.fp + theirs.fp, mine.missed + theirs.missed
        self.matched += other.matched
        self.extra_unjudged += other.extra_unjudged
        self.extra_judged += other.extra_judged
        self.serving_unjudged += other.serving_unjudged


@dataclass
class Comparison:
    candidate: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)  # (type, source) -> cell

    def total(self) -> Cell:
        out = Cell()
        for cell in self.cells.values():
            out.add(cell)
        return out

    def worse(self) -> str | None:
        """Why the candidate is worse than the serving model on the measured set; None when it is not."""
        t = self.total()
        c, s = t.candidate, t.serving
        if c.tp + c.fp + c.missed == 0:
            return f"{self.candidate} has no reviewed incidents in shadow yet"
        problems = []
        if c.precision is not None and s.precision is not None and c.precision < s.precision:
            problems.append(f"precision {c.precision:.3f} < {s.precision:.3f}")
        if c.recall is not None and s.recall is not None and c.recall < s.recall:
            problems.append(f"recall {c.recall:.3f} < {s.recall:.3f}")
        if c.precision is None and s.precision is not None:
            problems.append("no true or false positive measured")
        return "; ".join(problems) or None

    def summary(self) -> str:
        t = self.total()
        return (f"{self.candidate} in shadow: precision {_fmt(t.candidate.precision)} vs {_fmt(t.serving.precision)}, "
                f"recall {_fmt(t.candidate.recall)} vs {_fmt(t.serving.recall)} on {t.judged} review decisions")

    def as_dict(self, latency: Mapping[str, object] | None = None) -> dict[str, object]:
        rows = [{"type": t, "source": src, "matched": c.matched, "judged": c.judged, "extra_unjudged": c.extra_unjudged,
                 "serving_unjudged": c.serving_unjudged, "serving": c.serving.as_dict(),
                 "candidate": c.candidate.as_dict()} for (t, src), c in sorted(self.cells.items())]
        total = self.total()
        return {"candidate": self.candidate, "rows": rows,
                "total": {"matched": total.matched, "judged": total.judged, "extra_unjudged": total.extra_unjudged,
                          "serving_unjudged": total.serving_unjudged, "serving": total.serving.as_dict(),
                          "candidate": total.candidate.as_dict()},
                "worse": self.worse(), "summary": self.summary(), "latency": dict(latency or {})}


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def overlaps(a: IncidentOut, b: IncidentOut) -> bool:
    """The same violation seen by two models: same camera and type, overlapping boxes, close in media time."""
    return (a.source == b.source and a.type == b.type and abs(a.started_at - b.started_at) <= MATCH_S
            and iou(a.box, b.box) >= MATCH_IOU)


def _decision(inc: IncidentOut) -> str | None:
    return inc.review.decision if inc.review is not None else None


def compare(candidate: str, incidents: Iterable[IncidentOut]) -> Comparison:
    """Judge ``candidate``'s shadow incidents and the serving incidents of the cameras it ran on."""
    items = list(incidents)
    shadow = [i for i in items if i.status in SHADOW_STATUSES and i.shadow_model == candidate]
    cameras = {i.source for i in shadow}
    serving = [i for i in items if i.status not in SHADOW_STATUSES and i.status != "suppressed"
               and i.source in cameras]
    out = Comparison(candidate)
    used: set[str] = set()
    for inc in serving:
        cell = out.cells.setdefault((inc.type, inc.source), Cell())
        twin = next((s for s in shadow if s.id not in used and overlaps(inc, s)), None)
        if twin is not None:
            used.add(twin.id)
            cell.matched += 1
        decision = _decision(inc)
        if decision is None:
            cell.serving_unjudged += 1
            continue
        right = decision == "confirm"
        cell.serving.tp += right
        cell.serving.fp += not right
        if twin is not None:
            cell.candidate.tp += right
            cell.candidate.fp += not right
        elif right:
            cell.candidate.missed += 1
    for inc in shadow:
        if inc.id in used:
            continue
        cell = out.cells.setdefault((inc.type, inc.source), Cell())
        decision = _decision(inc)
        if decision is None:
            cell.extra_unjudged += 1
            continue
        cell.extra_judged += 1
        if decision == "confirm":
            cell.candidate.tp += 1
            cell.serving.missed += 1
        else:
            cell.candidate.fp += 1
    return out


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
