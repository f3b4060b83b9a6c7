"""The dispatch outbox: messages for the dispatch system, stored in the same transaction as the case change
that caused them, and kept until the receiver accepted them.

A message's ``key`` (the ``Idempotency-Key``) is fixed when it is enqueued and never changes, so a
retry after a lost answer is the same message to the receiver. Workers claim due messages with a
lease (several API processes may deliver from one database); a message waits while an earlier one of
the same case is undelivered, so a case's messages arrive in order.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from .db import OutboxRecord


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    key: str
    case_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


def enqueue(session: Session, case_id: int, kind: str, key: str, payload: dict[str, Any]) -> None:
    """Add a message to ``session`` (it commits with the caller's change)."""
    now = datetime.now(timezone.utc)
    session.add(OutboxRecord(key=key, case_id=case_id, kind=kind, payload=payload, created_at=now, attempts=0,
                             next_attempt_at=now))


class Outbox:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def claim(self, limit: int, lease_s: float) -> list[OutboxMessage]:
        """Up to ``limit`` due messages, leased to the caller for ``lease_s`` seconds."""
        now = datetime.now(timezone.utc)
        earlier = aliased(OutboxRecord)
        blocked = exists().where(and_(earlier.case_id == OutboxRecord.case_id, earlier.id < OutboxRecord.id,
                                      earlier.delivered_at.is_(None)))
        free = or_(OutboxRecord.lease_until.is_(None), OutboxRecord.lease_until < now)
        due = (select(OutboxRecord.id)
               .where(OutboxRecord.delivered_at.is_(None), OutboxRecord.next_attempt_at <= now, free, ~blocked)
               .order_by(OutboxRecord.next_attempt_at, OutboxRecord.id).limit(limit))
        with self._sessions() as s:
            candidates = list(s.scalars(due))
            if not candidates:
                return []
            # conditional update: of two workers that saw the same rows, each row goes to exactly one
            won = list(s.scalars(update(OutboxRecord)
                                 .where(OutboxRecord.id.in_(candidates), OutboxRecord.delivered_at.is_(None), free)
                                 .values(lease_until=now + timedelta(seconds=lease_s))
                                 .returning(OutboxRecord.id)))
            s.commit()
            if not won:
                return []
            rows = s.scalars(select(OutboxRecord).where(OutboxRecord.id.in_(won)).order_by(OutboxRecord.id))
            return [OutboxMessage(r.id, r.key, r.case_id, r.kind, r.payload, r.attempts, r.created_at) for r in rows]

    def mark_delivered(self, message: OutboxMessage, also: Callable[[Session], None] | None = None) -> datetime | None:
        """Record the delivery (and run ``also`` in the same transaction). Returns the delivery time,
        or None when another worker had recorded it already."""
        now = datetime.now(timezone.utc)
        with self._sessions() as s:
            won = s.execute(update(OutboxRecord)
                            .where(OutboxRecord.id == message.id, OutboxRecord.delivered_at.is_(None))
                            .values(delivered_at=now, lease_until=None, attempts=OutboxRecord.attempts + 1,
                                    last_error=None)).rowcount
            if won and also is not None:
                also(s)
            s.commit()
        return now if won else None

    def mark_failed(self, message: OutboxMessage, error: str, retry_in_s: float) -> None:
        now = datetime.now(timezone.utc)
        with self._sessions() as s:
            s.execute(update(OutboxRecord)
                      .where(OutboxRecord.id == message.id, OutboxRecord.delivered_at.is_(None))
                      .values(attempts=OutboxRecord.attempts + 1, last_error=error[:2000], lease_until=None,
                              next_attempt_at=now + timedelta(seconds=retry_in_s)))
            s.commit()

    def depth(self) -> int:
        """Messages not yet accepted by the receiver."""
        with self._sessions() as s:
            return int(s.scalar(select(func.count()).select_from(OutboxRecord)
                                .where(OutboxRecord.delivered_at.is_(None))) or 0)

    def oldest_pending_age_s(self) -> float:
        with self._sessions() as s:
            oldest = s.scalar(select(func.min(OutboxRecord.created_at)).where(OutboxRecord.delivered_at.is_(None)))
        if oldest is None:
            return 0.0
        if oldest.tzinfo is None:  # min() bypasses the column type on SQLite
            oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=timezone.utc)
        return max(0.0, (datetime.now(timezone.utc) - oldest).total_seconds())

    def next_due_in_s(self) -> float | None:
        """Seconds until the next undelivered message is due (0 if one is due), None if none waits."""
        with self._sessions() as s:
            nxt = s.scalar(select(func.min(OutboxRecord.next_attempt_at)).where(OutboxRecord.delivered_at.is_(None)))
        if nxt is None:
            return None
        if isinstance(nxt, str) or nxt.tzinfo is None:
            nxt = datetime.fromisoformat(str(nxt)).replace(tzinfo=timezone.utc)
        return max(0.0, (nxt - datetime.now(timezone.utc)).total_seconds())
