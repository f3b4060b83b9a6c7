"""Department performance (考核), computed from the time-stamped stages of cases.

A *round* is one delivery of a case to a department (its ``dispatched`` stage); a period holds the rounds
dispatched in it. Per department (and, when asked, area):

- ``received``: rounds; ``handled``: rounds with a ``handled`` stage; ``returns``: rounds returned (回退);
- ``on_time_rate``: handled by the deadline / (handled + not handled, not returned and past the deadline
  at ``now``); null when none is judged yet;
- ``median_handle_s``: median seconds from dispatched to handled;
- ``reopen_rate``: handled rounds the camera's re-check re-opened / handled rounds.

Per dispatch rule: cases it routed (filed in the period) and its misses, a first-round return of a case
it routed.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import CaseRecord, CaseStageRecord


@dataclass
class _Round:
    department: str
    area: str | None
    dispatched_at: datetime
    deadline_at: datetime | None
    handled_at: datetime | None = None
    returned: bool = False
    reopened: bool = False


@dataclass
class DepartmentRow:
    department: str
    area: str | None
    received: int = 0
    handled: int = 0
    on_time: int = 0
    late: int = 0
    returns: int = 0
    reopened: int = 0
    handle_seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        judged = self.on_time + self.late
        return {
            "department": self.department, "area": self.area, "received": self.received, "handled": self.handled,
            "on_time": self.on_time, "late": self.late,
            "on_time_rate": round(self.on_time / judged, 4) if judged else None,
            "median_handle_s": statistics.median(self.handle_seconds) if self.handle_seconds else None,
            "returns": self.returns, "reopened": self.reopened,
            "reopen_rate": round(self.reopened / self.handled, 4) if self.handled else None,
        }


def department_performance(s: Session, since: datetime, until: datetime, now: datetime,
                           by_area: bool = False) -> list[dict[str, object]]:
    rounds = _rounds(s, since, until)
    rows: dict[tuple[str, str | None], DepartmentRow] = {}
    for r in rounds.values():
        key = (r.department, r.area if by_area else None)
        row = rows.setdefault(key, DepartmentRow(*key))
        row.received += 1
        if r.returned:
            row.returns += 1
        if r.handled_at is not None:
            row.handled += 1
            row.handle_seconds.append((r.handled_at - r.dispatched_at).total_seconds())
            row.reopened += r.reopened
            if r.deadline_at is None or r.handled_at <= r.deadline_at:
                row.on_time += 1
            else:
                row.late += 1
        elif not r.returned and r.deadline_at is not None and r.deadline_at <= now:
            row.late += 1
    return [rows[k].as_dict() for k in sorted(rows, key=lambda k: (k[0], k[1] or ""))]


def _rounds(s: Session, since: datetime, until: datetime) -> dict[tuple[int, int], _Round]:
    dispatched = list(s.scalars(select(CaseStageRecord).where(
        CaseStageRecord.stage == "dispatched", CaseStageRecord.at >= since, CaseStageRecord.at < until)))
    rounds = {(d.case_id, d.round): _Round(d.department or "", d.area, d.at, _deadline(d)) for d in dispatched}
    if not rounds:
        return rounds
    case_ids = sorted({case_id for case_id, _ in rounds})
    later = s.scalars(select(CaseStageRecord).where(
        CaseStageRecord.case_id.in_(case_ids), CaseStageRecord.stage.in_(("handled", "returned", "reopened")))
        .order_by(CaseStageRecord.at, CaseStageRecord.id))
    for stage in later:
        r = rounds.get((stage.case_id, stage.round))
        if r is None:
            continue
        if stage.stage == "handled" and r.handled_at is None:
            r.handled_at = stage.at
        elif stage.stage == "returned":
            r.returned = True
        elif stage.stage == "reopened":
            r.reopened = True
    return rounds


def _deadline(stage: CaseStageRecord) -> datetime | None:
    value = (stage.detail or {}).get("deadline_at")
    return datetime.fromisoformat(value) if value else None


def rule_misses(s: Session, since: datetime, until: datetime) -> list[dict[str, object]]:
    """Per rule index: cases it routed (filed in the period) and how many of them were returned."""
    routed: dict[int, int] = defaultdict(int)
    departments: dict[int, str | None] = {}
    filed = s.execute(select(CaseRecord.rule_index, CaseRecord.id).join(
        CaseStageRecord, CaseStageRecord.case_id == CaseRecord.id).where(
        CaseStageRecord.stage == "filed", CaseStageRecord.at >= since, CaseStageRecord.at < until,
        CaseRecord.rule_index.is_not(None)))
    for rule_index, _case_id in filed:
        routed[rule_index] += 1
    misses: dict[int, int] = defaultdict(int)
    for stage in s.scalars(select(CaseStageRecord).where(
            CaseStageRecord.stage == "returned", CaseStageRecord.at >= since, CaseStageRecord.at < until)):
        index = (stage.detail or {}).get("rule_index")
        if index is not None:
            misses[int(index)] += 1
            departments.setdefault(int(index), stage.department)
    return [{"rule": i, "department": departments.get(i), "routed": routed.get(i, 0), "misses": misses.get(i, 0)}
            for i in sorted(set(routed) | set(misses))]
