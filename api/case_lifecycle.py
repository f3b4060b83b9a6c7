"""The dispatch lifecycle of a case, on its records: time-stamped stages (记时), the round of each delivery
to a department with its time limit and deadlines, the reminders due (催办, 超期报警) and the departments a
case may no longer be routed to automatically. Pure functions over a session and a ``CaseRecord``; the
``CaseService`` calls them inside its transactions, so a stage commits with the change it records."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session

from .db import CaseRecord, CaseStageRecord, OutboxRecord
from .settings import DispatchSettings
from .time_limits import due_at, limit_hours

# messages that hand the case to a department (its delivery starts a round); the others only inform
DISPATCHING_KINDS = ("case.created", "case.reassigned", "case.reopened")
OPEN_STATUSES = ("dispatched", "accepted")  # with a department, not handled yet: reminders apply
RETURNS_BEFORE_BLOCK = 2


def add_stage(s: Session, record: CaseRecord, stage: str, at: datetime, detail: dict[str, Any] | None = None,
              department: str | None = None) -> None:
    s.add(CaseStageRecord(case_id=record.id, stage=stage, at=at, round=record.dispatch_round,
                          department=department if department is not None else record.department,
                          area=record.area, detail=detail))


def start_round(s: Session, settings: DispatchSettings, record: CaseRecord, now: datetime, message_key: str) -> None:
    """The case reached its department: a new round with the limit that applies and its deadlines."""
    record.dispatch_round += 1
    hours = limit_hours(settings, record.department, record.area, record.type)
    record.time_limit_h = hours
    record.dispatched_at, record.accepted_at = now, None
    record.deadline_at = due_at(settings, now, hours * 3600)
    record.remind_at = (due_at(settings, now, hours * 3600 * settings.reminder_fraction)
                        if settings.reminder_fraction else None)
    record.accept_due_at = now + timedelta(seconds=settings.accept_within_s) if settings.accept_within_s else None
    add_stage(s, record, "dispatched", now, {"message": message_key, "time_limit_h": hours,
                                             "deadline_at": record.deadline_at.isoformat()})


def is_overdue(record: CaseRecord, now: datetime) -> bool:
    return record.status in OPEN_STATUSES and record.deadline_at is not None and record.deadline_at <= now


@dataclass(frozen=True)
class DueReminder:
    kind: str  # case.reminder | case.overdue
    reason: str  # not_accepted | deadline_near | overdue
    key: str


def reminders_due(s: Session, record: CaseRecord, now: datetime) -> list[DueReminder]:
    """The reminders of the current round that are due and not yet in the outbox. The key names the
    case, the round and the reason, so each is enqueued once, whoever computes it and however often."""
    if record.status not in OPEN_STATUSES or record.dispatch_round == 0:
        return []
    prefix = f"{record.number}.r{record.dispatch_round}"
    wanted: list[DueReminder] = []
    if record.status == "dispatched" and record.accept_due_at is not None and record.accept_due_at <= now:
        wanted.append(DueReminder("case.reminder", "not_accepted", f"{prefix}.not-accepted"))
    if record.remind_at is not None and record.remind_at <= now and not is_overdue(record, now):
        wanted.append(DueReminder("case.reminder", "deadline_near", f"{prefix}.reminder"))
    if is_overdue(record, now):
        wanted.append(DueReminder("case.overdue", "overdue", f"{prefix}.overdue"))
    if not wanted:
        return []
    sent = set(s.scalars(select(OutboxRecord.key).where(OutboxRecord.key.in_([w.key for w in wanted]))))
    return [w for w in wanted if w.key not in sent]


def _sent(suffix: str) -> ColumnElement[bool]:
    """Whether the current round's message with this key suffix is in the outbox (same key as below)."""
    key = CaseRecord.number + ".r" + cast(CaseRecord.dispatch_round, String) + suffix
    return exists().where(OutboxRecord.key == key)


def reminder_pending(now: datetime) -> ColumnElement[bool]:
    """SQL: a reminder of the case's round is due and not enqueued (cases already reminded are not read
    again and again, so a poll's limit is spent on cases with work)."""
    return or_(
        and_(CaseRecord.status == "dispatched", CaseRecord.accept_due_at <= now, ~_sent(".not-accepted")),
        and_(CaseRecord.remind_at <= now, CaseRecord.deadline_at > now, ~_sent(".reminder")),
        and_(CaseRecord.deadline_at <= now, ~_sent(".overdue")),
    )


def return_counts(s: Session, case_id: int) -> dict[str, int]:
    """Department -> how often it returned the case."""
    rows = s.execute(select(CaseStageRecord.department, func.count())
                     .where(CaseStageRecord.case_id == case_id, CaseStageRecord.stage == "returned")
                     .group_by(CaseStageRecord.department))
    return {department: int(n) for department, n in rows if department}


def blocked_departments(s: Session, case_id: int) -> set[str]:
    """Departments that returned the case twice or more: never routed back to automatically."""
    return {d for d, n in return_counts(s, case_id).items() if n >= RETURNS_BEFORE_BLOCK}


def stages_of(s: Session, case_ids: list[int]) -> dict[int, list[CaseStageRecord]]:
    found: dict[int, list[CaseStageRecord]] = {case_id: [] for case_id in case_ids}
    if not case_ids:
        return found
    for stage in s.scalars(select(CaseStageRecord).where(CaseStageRecord.case_id.in_(case_ids))
                           .order_by(CaseStageRecord.at, CaseStageRecord.id)):
        found[stage.case_id].append(stage)
    return found
