"""Incident and case statistics (绩效考核) per event type, camera, area and day.

Per group: incidents; reviewer decisions and the **confirm rate** (confirmed / reviewed: the precision that
reviewers measure in the field; a confirmation as another type counts as ``corrected``, a miss of the type
the camera reported); reject reasons; median time from detection to review; cases by status and by
department; median time from filing to closing.

A camera whose confirm rate for a type is below ``floor`` after at least ``min_reviews`` reviews is
*flagged*: the list of what to retune or retrain (`confirm_rate_flags`).

Incidents are grouped by the local day (``timezone``) of their detection; a camera's area comes from its
place (the records), as the incidents list's ``area`` filter does.
"""
from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from .db import CaseRecord, CaseStageRecord, IncidentRecord
from .settings import SourceInfo
from .schemas import SHADOW_STATUSES

Dimension = Literal["type", "camera", "area", "day"]
DIMENSIONS: tuple[Dimension, ...] = ("type", "camera", "area", "day")


@dataclass(frozen=True)
class StatsQuery:
    """Incidents detected on local days [first_day, last_day] (inclusive), optionally of one type, camera, area."""

    first_day: date
    last_day: date
    timezone: str
    type: str | None = None
    camera: str | None = None
    area: str | None = None

    def wall_bounds(self) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.timezone)
        start = datetime.combine(self.first_day, time.min, zone)
        return start, datetime.combine(self.last_day + timedelta(days=1), time.min, zone)


class LocalDays:
    """The local day of a UTC time; the zone's offset is looked up once per hour (a zone lookup per incident
    is most of the cost of a month of incidents)."""

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self.offsets: dict[int, timedelta] = {}

    def __call__(self, wall: datetime) -> date:
        hour = int(wall.timestamp()) // 3600
        offset = self.offsets.get(hour)
        if offset is None:
            offset = self.offsets[hour] = wall.astimezone(self.zone).utcoffset() or timedelta(0)
        return (wall + offset).date()


@dataclass(frozen=True, slots=True)
class _Fact:
    """One incident with what the statistics need of it and of its case."""

    type: str
    camera: str
    area: str | None
    day: date
    status: str
    corrected: bool
    reject_reason: str | None
    review_s: float | None
    case_status: str | None
    department: str | None
    close_s: float | None

    def key(self, dims: Sequence[Dimension]) -> tuple[str | None, ...]:
        values = {"type": self.type, "camera": self.camera, "area": self.area, "day": self.day.isoformat()}
        return tuple(values[d] for d in dims)


@dataclass
class StatsRow:
    """One group's figures, from either path (`group` here or `api.stats_sql`)."""

    key: dict[str, str | None]
    incidents: int = 0
    pending: int = 0
    confirmed: int = 0
    corrected: int = 0
    rejected: int = 0
    suppressed: int = 0
    reject_reasons: Counter[str] = field(default_factory=Counter)
    median_review_s: float | None = None
    cases: int = 0
    cases_by_status: Counter[str] = field(default_factory=Counter)
    cases_by_department: Counter[str] = field(default_factory=Counter)
    median_close_s: float | None = None

    @property
    def reviewed(self) -> int:
        return self.confirmed + self.corrected + self.rejected

    @property
    def confirm_rate(self) -> float | None:
        return round(self.confirmed / self.reviewed, 4) if self.reviewed else None

    def as_dict(self, with_cases: bool = True) -> dict[str, object]:
        out: dict[str, object] = {
            **self.key, "incidents": self.incidents, "pending": self.pending, "reviewed": self.reviewed,
            "confirmed": self.confirmed, "corrected": self.corrected, "rejected": self.rejected,
            "suppressed": self.suppressed, "confirm_rate": self.confirm_rate,
            "reject_reasons": _by_count(self.reject_reasons), "median_review_s": self.median_review_s,
        }
        if with_cases:
            out.update(cases=self.cases, cases_by_status=_by_count(self.cases_by_status),
                       cases_by_department=_by_count(self.cases_by_department), median_close_s=self.median_close_s)
        return out


def _by_count(counts: Counter[str]) -> dict[str, int]:
    """Most first, ties by name: the same order whichever path counted (CSV cells compare equal)."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class _Tally:
    """The reference path's running group: facts counted one by one, durations kept for the medians."""

    row: StatsRow
    review_seconds: list[float] = field(default_factory=list)
    close_seconds: list[float] = field(default_factory=list)

    def add(self, f: _Fact) -> None:
        row = self.row
        row.incidents += 1
        if f.status == "confirmed":
            if f.corrected:
                row.corrected += 1
            else:
                row.confirmed += 1
        elif f.status == "rejected":
            row.rejected += 1
            row.reject_reasons[f.reject_reason or "unspecified"] += 1
        elif f.status == "suppressed":
            row.suppressed += 1
        else:
            row.pending += 1
        if f.review_s is not None:
            self.review_seconds.append(f.review_s)
        if f.case_status is not None:
            row.cases += 1
            row.cases_by_status[f.case_status] += 1
            row.cases_by_department[f.department or "unassigned"] += 1
        if f.close_s is not None:
            self.close_seconds.append(f.close_s)

    def finish(self) -> StatsRow:
        self.row.median_review_s = _median(self.review_seconds)
        self.row.median_close_s = _median(self.close_seconds)
        return self.row


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def incident_filter(q: StatsQuery, places: Mapping[str, SourceInfo]) -> list[ColumnElement[bool]]:
    """The WHERE of the query's incidents (both paths)."""
    start, end = q.wall_bounds()
    where = [IncidentRecord.detected_wall >= start, IncidentRecord.detected_wall < end,
             IncidentRecord.status.not_in(SHADOW_STATUSES)]  # a candidate model's would-be incidents: models compare
    if q.type:
        where.append(IncidentRecord.type == q.type)
    if q.camera:
        where.append(IncidentRecord.source == q.camera)
    if q.area:
        where.append(IncidentRecord.source.in_([sid for sid, p in places.items() if p.area == q.area]))
    return where


def load_facts(s: Session, q: StatsQuery, places: Mapping[str, SourceInfo]) -> list[_Fact]:
    """The incidents of the query with their case (if any) and its closing time, in three queries."""
    where = incident_filter(q, places)
    incidents = s.execute(select(
        IncidentRecord.id, IncidentRecord.type, IncidentRecord.source, IncidentRecord.detected_wall,
        IncidentRecord.status, IncidentRecord.corrected_type, IncidentRecord.reject_reason,
        IncidentRecord.reviewed_at).where(*where)).all()
    cases = {row.incident_id: row for row in s.execute(select(
        CaseRecord.id, CaseRecord.incident_id, CaseRecord.status, CaseRecord.department, CaseRecord.created_at)
        .join(IncidentRecord, IncidentRecord.id == CaseRecord.incident_id).where(*where))}
    closed = dict(s.execute(select(CaseStageRecord.case_id, func.min(CaseStageRecord.at))
                            .join(CaseRecord, CaseRecord.id == CaseStageRecord.case_id)
                            .join(IncidentRecord, IncidentRecord.id == CaseRecord.incident_id)
                            .where(CaseStageRecord.stage == "closed", *where)
                            .group_by(CaseStageRecord.case_id)).all())
    local_day = LocalDays(q.timezone)
    area_of = {sid: p.area for sid, p in places.items()}
    facts = []
    for i in incidents:
        case = cases.get(i.id)
        closed_at = closed.get(case.id) if case is not None else None
        facts.append(_Fact(
            type=i.type, camera=i.source, area=area_of.get(i.source), day=local_day(i.detected_wall), status=i.status,
            corrected=bool(i.corrected_type and i.corrected_type != i.type), reject_reason=i.reject_reason,
            review_s=(i.reviewed_at - i.detected_wall).total_seconds() if i.reviewed_at else None,
            case_status=case.status if case is not None else None,
            department=case.department if case is not None else None,
            close_s=(closed_at - case.created_at).total_seconds() if case is not None and closed_at else None))
    return facts


def group(facts: Iterable[_Fact], dims: Sequence[Dimension]) -> list[StatsRow]:
    """One row per distinct value of ``dims`` (no dims: one row for everything), sorted by the key."""
    tallies: dict[tuple[str | None, ...], _Tally] = {}
    for f in facts:
        key = f.key(dims)
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally(StatsRow(dict(zip(dims, key))))
        tally.add(f)
    return [tallies[k].finish() for k in sorted(tallies, key=row_order)]


def row_order(key: Sequence[str | None]) -> tuple[str, ...]:
    """Rows sorted by their key, a missing value (a camera without an area) first."""
    return tuple(v or "" for v in key)


@dataclass(frozen=True)
class StatsResult:
    """What ``GET /api/v1/stats`` reports: every group, the total, and the (camera, type) review counts
    that the confirm-rate flags are judged on."""

    total: StatsRow
    rows: list[StatsRow]
    review_counts: list[ReviewCounts]


def python_stats(s: Session, q: StatsQuery, places: Mapping[str, SourceInfo], dims: Sequence[Dimension],
                 with_cases: bool = True) -> StatsResult:
    """The reference computation: every incident of the period read into Python and counted there. Kept as
    the definition that `api.stats_sql.sql_stats` must equal (tests, ``streetsight bench stats``)."""
    facts = load_facts(s, q, places)
    return StatsResult(total=(group(facts, ()) or [StatsRow({})])[0], rows=group(facts, dims),
                       review_counts=review_counts(facts))


@dataclass(frozen=True)
class ConfirmRateFlag:
    camera: str
    type: str
    reviewed: int
    confirmed: int
    confirm_rate: float


ReviewCounts = tuple[str, str, int, int]
"""(camera, type, reviewed, confirmed as that type)."""


def confirm_rate_flags(counts: Iterable[ReviewCounts], floor: float | None, min_reviews: int) -> list[ConfirmRateFlag]:
    """Camera and type pairs reviewed at least ``min_reviews`` times whose confirm rate is below ``floor``,
    worst first. No floor configured: none."""
    if floor is None:
        return []
    flags = [ConfirmRateFlag(camera, type, reviewed, confirmed, round(confirmed / reviewed, 4))
             for camera, type, reviewed, confirmed in counts
             if reviewed >= max(min_reviews, 1) and confirmed / reviewed < floor]
    return sorted(flags, key=lambda f: (f.confirm_rate, f.camera, f.type))


def review_counts(facts: Iterable[_Fact]) -> list[ReviewCounts]:
    return [(str(r.key["camera"]), str(r.key["type"]), r.reviewed, r.confirmed) for r in group(facts, ("camera", "type"))]


def recent_review_counts(s: Session, since: datetime) -> list[ReviewCounts]:
    """`review_counts` of the incidents detected since ``since``, counted by the database (the camera wall
    asks for it every few seconds: no row leaves the database)."""
    reviewed = IncidentRecord.status.in_(("confirmed", "rejected"))
    as_reported = and_(IncidentRecord.status == "confirmed",
                       or_(IncidentRecord.corrected_type.is_(None), IncidentRecord.corrected_type == IncidentRecord.type))
    rows = s.execute(select(IncidentRecord.source, IncidentRecord.type,
                            func.sum(case((reviewed, 1), else_=0)), func.sum(case((as_reported, 1), else_=0)))
                     .where(IncidentRecord.detected_wall >= since)
                     .group_by(IncidentRecord.source, IncidentRecord.type))
    return [(source, type, int(n or 0), int(k or 0)) for source, type, n, k in rows]
