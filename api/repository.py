"""IncidentRepository: the only code that reads and writes incident records.

Every call opens its own short session, so one repository is safe to share between the pipeline's
threads and the API's worker threads (SQLite serialises the writers; WAL lets readers go on).
"""
from __future__ import annotations

import builtins
import logging
from collections.abc import Collection
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import Select, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .audit import record_audit
from .db import EvidenceRecord, IncidentRecord
from .schemas import (
    Decision,
    EvidenceItemIn,
    EvidenceOut,
    IncidentCreate,
    IncidentOut,
    ReviewOut,
    Status,
    evidence_url,
)

log = logging.getLogger(__name__)

Listener = Callable[[IncidentOut], None]
_STATUS_OF: dict[str, Status] = {"confirm": "confirmed", "reject": "rejected"}


class IncidentNotFound(LookupError):
    pass


class ReviewConflict(Exception):
    """The incident was already reviewed with the other decision."""

    def __init__(self, incident: IncidentOut) -> None:
        decision = incident.review.decision if incident.review else None
        super().__init__(f"incident {incident.id} was already reviewed: {decision}")
        self.incident = incident


class IncidentRepository:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory
        self._on_added: builtins.list[Listener] = []
        self._on_reviewed: builtins.list[Listener] = []
        self._on_ended: builtins.list[Listener] = []
        self._on_evidence: builtins.list[Listener] = []

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory (cases, audit and auth share the database)."""
        return self._sessions

    # -- listeners (metrics, event bus): called after commit, only for real changes ---------------

    def on_added(self, listener: Listener) -> None:
        self._on_added.append(listener)

    def on_reviewed(self, listener: Listener) -> None:
        self._on_reviewed.append(listener)

    def on_ended(self, listener: Listener) -> None:
        self._on_ended.append(listener)

    def on_evidence(self, listener: Listener) -> None:
        """Evidence attached later (the clip lands after its post-roll)."""
        self._on_evidence.append(listener)

    # -- writes -----------------------------------------------------------------------------------

    def add(self, incident: IncidentCreate) -> IncidentOut:
        """Record ``incident``; if its id exists already, return the stored one unchanged."""
        with self._sessions() as s:
            existing = s.get(IncidentRecord, incident.id)
            if existing is not None:
                return _to_out(existing)
            record = IncidentRecord(
                **incident.model_dump(
                    exclude={"class_name", "detected_wall", "box", "frame_size", "zone_polygon"}
                ),
                class_name=incident.class_name,
                box=list(incident.box),
                frame_size=list(incident.frame_size),
                zone_polygon=[list(p) for p in incident.zone_polygon] if incident.zone_polygon else None,
                detected_wall=incident.detected_wall or datetime.now(timezone.utc),
                status="pending",
            )
            s.add(record)
            try:
                s.commit()
            except IntegrityError:  # another thread added the same id between our get and commit
                s.rollback()
                existing = s.get(IncidentRecord, incident.id)
                if existing is None:
                    raise
                return _to_out(existing)
            out = _to_out(record)
        self._notify(self._on_added, out)
        return out

    def attach_evidence(self, incident_id: str, item: EvidenceItemIn) -> IncidentOut:
        """Attach ``item`` to the incident, replacing an earlier item of the same kind."""
        try:
            out = self._upsert_evidence(incident_id, item)
        except IntegrityError:  # a concurrent insert of the same kind won: now it is an update
            out = self._upsert_evidence(incident_id, item)
        self._notify(self._on_evidence, out)
        return out

    def _upsert_evidence(self, incident_id: str, item: EvidenceItemIn) -> IncidentOut:
        with self._sessions() as s:
            record = self._require(s, incident_id)
            current = next((e for e in record.evidence if e.kind == item.kind), None)
            if current is None:
                record.evidence.append(EvidenceRecord(**item.model_dump()))
            else:
                for field, value in item.model_dump().items():
                    setattr(current, field, value)
            s.commit()
            return _to_out(record)

    def mark_ended(self, incident_id: str, ended_at: float, reason: str | None = None) -> IncidentOut:
        """The violation is gone (media time ``ended_at``); the wall clock of this call is kept too,
        for the re-check of handled cases. ``reason``: why it ended when not because its spot emptied
        (e.g. ``zone_removed``: an operator deleted its zone)."""
        with self._sessions() as s:
            record = self._require(s, incident_id)
            changed = record.ended_at != ended_at
            record.ended_at = ended_at
            record.ended_wall = datetime.now(timezone.utc)
            if reason is not None:
                record.end_reason = reason
            s.commit()
            out = _to_out(record)
        if changed:
            self._notify(self._on_ended, out)
        return out

    def mark_seen(self, incident_id: str, media_time: float) -> None:
        """The pipeline still sees the violation at ``media_time`` (call it now and then while an
        incident is open, e.g. every few seconds); the re-check of a handled case relies on it."""
        with self._sessions() as s:
            found = s.execute(
                update(IncidentRecord)
                .where(IncidentRecord.id == incident_id)
                .values(last_seen=media_time, last_seen_wall=datetime.now(timezone.utc))
            ).rowcount
            s.commit()
        if not found:
            raise IncidentNotFound(incident_id)

    def review(
        self,
        incident_id: str,
        decision: Decision,
        note: str = "",
        reviewer: str | None = None,
        reason: str | None = None,
        corrected_type: str | None = None,
    ) -> IncidentOut:
        """Confirm or reject (a rejection may carry a ``reason`` code, a confirmation a
        ``corrected_type``). Repeating the same decision is a no-op that returns the record (safe
        retries); the opposite decision on a reviewed incident raises :class:`ReviewConflict`.
        The decision and its audit row commit together."""
        now = datetime.now(timezone.utc)
        with self._sessions() as s:
            # UPDATE ... WHERE decision IS NULL: of two racing reviewers exactly one wins
            won = s.execute(
                update(IncidentRecord)
                .where(IncidentRecord.id == incident_id, IncidentRecord.decision.is_(None))
                .values(
                    decision=decision,
                    status=_STATUS_OF[decision],
                    note=note,
                    reviewer=reviewer,
                    reviewed_at=now,
                    reject_reason=reason if decision == "reject" else None,
                    corrected_type=corrected_type if decision == "confirm" else None,
                )
            ).rowcount
            if won:
                record_audit(
                    s, reviewer or "anonymous", f"incident.{decision}", incident_id=incident_id,
                    before={"status": "pending"},
                    after={"status": _STATUS_OF[decision], "note": note, "reason": reason,
                           "corrected_type": corrected_type},
                )
            s.commit()
            record = self._require(s, incident_id)
            out = _to_out(record)
        if won:
            self._notify(self._on_reviewed, out)
        elif out.review is not None and out.review.decision != decision:
            raise ReviewConflict(out)
        return out

    # -- reads ------------------------------------------------------------------------------------

    def get(self, incident_id: str) -> IncidentOut | None:
        with self._sessions() as s:
            record = s.get(IncidentRecord, incident_id)
            return _to_out(record) if record is not None else None

    def evidence_item(self, incident_id: str, kind: str) -> EvidenceItemIn | None:
        """The stored item (with its store key), or None if the incident or the kind is unknown."""
        query = select(EvidenceRecord).where(
            EvidenceRecord.incident_id == incident_id, EvidenceRecord.kind == kind
        )
        with self._sessions() as s:
            e = s.scalars(query).one_or_none()
            if e is None:
                return None
            return EvidenceItemIn.model_construct(  # trusted: validated when it was attached
                kind=e.kind, key=e.key, sha256=e.sha256, size=e.size, content_type=e.content_type
            )

    def evidence_keys(self, incident_id: str) -> builtins.list[str]:
        """The store keys of all of the incident's evidence (e.g. to protect them when it becomes a case)."""
        with self._sessions() as s:
            return builtins.list(s.scalars(select(EvidenceRecord.key).where(EvidenceRecord.incident_id == incident_id)
                                           .order_by(EvidenceRecord.kind)))

    def count(
        self,
        status: str | None = None,
        type: str | None = None,
        source: str | None = None,
        sources: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        query = _filtered(select(func.count()).select_from(IncidentRecord), status, type, source, sources,
                          since, until)
        with self._sessions() as s:
            return int(s.execute(query).scalar_one())

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self._sessions() as s:
            s.execute(text("SELECT 1"))

    def list(
        self,
        status: str | None = None,
        type: str | None = None,
        source: str | None = None,
        limit: int = 100,
        offset: int = 0,
        sources: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> builtins.list[IncidentOut]:
        """Newest first (by detection wall time). ``sources`` limits to a set of sources (an area);
        ``since`` (inclusive) and ``until`` (exclusive) bound the detection wall time."""
        query = _filtered(select(IncidentRecord), status, type, source, sources, since, until)
        query = query.order_by(IncidentRecord.detected_wall.desc(), IncidentRecord.id.desc())
        with self._sessions() as s:
            records = s.scalars(query.limit(limit).offset(offset)).all()
            return [_to_out(r) for r in records]

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def _require(s: Session, incident_id: str) -> IncidentRecord:
        record = s.get(IncidentRecord, incident_id)
        if record is None:
            raise IncidentNotFound(incident_id)
        return record

    @staticmethod
    def _notify(listeners: builtins.list[Listener], out: IncidentOut) -> None:
        for listener in listeners:
            try:
                listener(out)
            except Exception:  # a broken metric must never lose a record
                log.exception("incident listener %r failed", listener)


def _filtered(
    query: Select[Any],
    status: str | None,
    type: str | None,
    source: str | None,
    sources: Collection[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    if status is not None:
        query = query.where(IncidentRecord.status == status)
    if type is not None:
        query = query.where(IncidentRecord.type == type)
    if source is not None:
        query = query.where(IncidentRecord.source == source)
    if sources is not None:
        query = query.where(IncidentRecord.source.in_(builtins.list(sources)))
    if since is not None:
        query = query.where(IncidentRecord.detected_wall >= since)
    if until is not None:
        query = query.where(IncidentRecord.detected_wall < until)
    return query


def _to_out(r: IncidentRecord) -> IncidentOut:
    review = None
    if r.decision is not None and r.reviewed_at is not None:
        review = ReviewOut(decision=r.decision, note=r.note or "", reviewer=r.reviewer, reviewed_at=r.reviewed_at,
                           reason=r.reject_reason, corrected_type=r.corrected_type)
    return IncidentOut(
        id=r.id,
        type=r.type,
        source=r.source,
        zone=r.zone,
        status=r.status,
        started_at=r.started_at,
        confirmed_at=r.confirmed_at,
        ended_at=r.ended_at,
        end_reason=r.end_reason,
        class_name=r.class_name,
        box=r.box,
        score=r.score,
        track_id=r.track_id,
        frame_size=r.frame_size,
        zone_polygon=r.zone_polygon,
        detected_wall=r.detected_wall,
        evidence={
            e.kind: EvidenceOut(
                url=evidence_url(r.id, e.kind), sha256=e.sha256, size=e.size, content_type=e.content_type
            )
            for e in sorted(r.evidence, key=lambda e: e.kind)
        },
        review=review,
        labels=r.labels,
    )
