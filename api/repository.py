"""IncidentRepository: the only code that reads and writes incident records.

Every call opens its own short session, so one repository is safe to share between the pipeline's
threads and the API's worker threads (SQLite serialises the writers; WAL lets readers go on).
"""
from __future__ import annotations

import base64
import builtins
import logging
import re
from collections.abc import Collection
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import Select, and_, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .audit import record_audit
from .db import CaseRecord, EvidenceRecord, IncidentEmbeddingRecord, IncidentRecord
from .embeddings import ClosedOffence, StoredEmbedding, decode_vector
from .schemas import (
    Decision,
    EmbeddingIn,
    EvidenceItemIn,
    EvidenceOut,
    IncidentCreate,
    IncidentOut,
    SHADOW_STATUSES,
    ReviewOut,
    Status,
    evidence_url,
    shop_from_extra,
    snapshots_from_extra,
    vehicle_from_extra,
)

log = logging.getLogger(__name__)

Listener = Callable[[IncidentOut], None]
EmbeddedListener = Callable[[str], None]
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
        self._on_embedded: builtins.list[EmbeddedListener] = []
        self._on_judged: builtins.list[Listener] = []

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

    def on_embedded(self, listener: EmbeddedListener) -> None:
        """An incident's appearance vectors were stored (the verifier judges it then); gets its id."""
        self._on_embedded.append(listener)

    def on_judged(self, listener: Listener) -> None:
        """The verifier suppressed an incident, or a reviewer un-suppressed one."""
        self._on_judged.append(listener)

    # -- writes -----------------------------------------------------------------------------------

    def add(self, incident: IncidentCreate, status: Status = "pending") -> IncidentOut:
        """Record ``incident``; if its id exists already, return the stored one unchanged. ``status``: pending
        (the review queue) or, for a candidate model's would-be incident, shadow / shadow_queue."""
        with self._sessions() as s:
            existing = s.get(IncidentRecord, incident.id)
            if existing is not None:
                return _to_out(existing)
            record = IncidentRecord(
                **incident.model_dump(
                    exclude={"class_name", "detected_wall", "box", "frame_size", "zone_polygon", "embedding"}
                ),
                class_name=incident.class_name,
                box=list(incident.box),
                frame_size=list(incident.frame_size),
                zone_polygon=[list(p) for p in incident.zone_polygon] if incident.zone_polygon else None,
                detected_wall=incident.detected_wall or datetime.now(timezone.utc),
                status=status,
                plate=plate_of(incident.extra),
            )
            s.add(record)
            try:
                if incident.embedding is not None:
                    s.flush()  # the incident row first: no relationship tells the unit of work the order
                    e = incident.embedding
                    s.add(IncidentEmbeddingRecord(
                        incident_id=incident.id, model=e.model, dim=e.dim, crop=base64.b64decode(e.crop),
                        ring=base64.b64decode(e.ring) if e.ring is not None else None,
                        created_at=record.detected_wall))
                s.commit()
            except IntegrityError:  # another thread added the same id between our get and commit
                s.rollback()
                existing = s.get(IncidentRecord, incident.id)
                if existing is None:
                    raise
                return _to_out(existing)
            out = _to_out(record)
        self._notify(self._on_added, out)
        if incident.embedding is not None:
            self._notify_id(self._on_embedded, incident.id)
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
            if record.evidence_missing and item.kind in record.evidence_missing:  # it exists after all
                record.evidence_missing = {k: v for k, v in record.evidence_missing.items() if k != item.kind} or None
            if current is None:
                record.evidence.append(EvidenceRecord(**item.model_dump()))
            else:
                for field, value in item.model_dump().items():
                    setattr(current, field, value)
            s.commit()
            return _to_out(record)

    def attach_embedding(self, incident_id: str, embedding: EmbeddingIn) -> None:
        """Keep the incident's appearance vectors (computed after it opened), replacing earlier ones."""
        raw_ring = base64.b64decode(embedding.ring) if embedding.ring is not None else None
        for attempt in (1, 2):
            with self._sessions() as s:
                self._require(s, incident_id)
                row = s.get(IncidentEmbeddingRecord, incident_id)
                if row is None:
                    row = IncidentEmbeddingRecord(incident_id=incident_id, created_at=datetime.now(timezone.utc))
                    s.add(row)
                row.model, row.dim = embedding.model, embedding.dim
                row.crop, row.ring = base64.b64decode(embedding.crop), raw_ring
                try:
                    s.commit()
                    break
                except IntegrityError:  # a concurrent insert won: now it is an update
                    if attempt == 2:
                        raise
        self._notify_id(self._on_embedded, incident_id)

    def mark_ended(self, incident_id: str, ended_at: float, ended_reason: str | None = None) -> IncidentOut:
        """The violation is gone (media time ``ended_at``); the wall clock of this call is kept too,
        for the re-check of handled cases. ``ended_reason``: None when the object left while watched,
        ``interrupted`` when it left while the service was down (its end is unknown)."""
        with self._sessions() as s:
            record = self._require(s, incident_id)
            changed = record.ended_at != ended_at or record.ended_reason != ended_reason
            record.ended_at = ended_at
            record.ended_reason = ended_reason
            record.ended_wall = datetime.now(timezone.utc)
            s.commit()
            out = _to_out(record)
        if changed:
            self._notify(self._on_ended, out)
        return out

    def mark_evidence_missing(self, incident_id: str, kind: str, reason: str) -> bool:
        """Record that the incident's ``kind`` of evidence does not exist, and why (e.g. its process died
        before the clip's post-roll). A no-op when that evidence is attached (False); attaching it later
        clears the note."""
        with self._sessions() as s:
            record = self._require(s, incident_id)
            if any(e.kind == kind for e in record.evidence):
                return False
            record.evidence_missing = {**(record.evidence_missing or {}), kind: reason}
            s.commit()
            out = _to_out(record)
        self._notify(self._on_evidence, out)
        return True

    def unfinished(self, source: str) -> builtins.list[IncidentOut]:
        """Incidents of ``source`` without an end: open, or left open by a process that stopped or died."""
        query = select(IncidentRecord).where(IncidentRecord.source == source, IncidentRecord.ended_at.is_(None))
        with self._sessions() as s:
            return [_to_out(r) for r in s.scalars(query.order_by(IncidentRecord.detected_wall))]

    def ended_since(self, source: str, since: datetime) -> builtins.list[IncidentOut]:
        """Incidents of ``source`` whose end was recorded at or after the wall time ``since``."""
        query = select(IncidentRecord).where(IncidentRecord.source == source, IncidentRecord.ended_wall >= since)
        with self._sessions() as s:
            return [_to_out(r) for r in s.scalars(query.order_by(IncidentRecord.ended_wall))]

    def mark_seen(self, incident_id: str, media_time: float, seen_wall: datetime | None = None) -> None:
        """The pipeline still sees the violation at ``media_time`` (call it now and then while an
        incident is open, e.g. every few seconds); the re-check of a handled case relies on it.
        ``seen_wall``: when it was seen (default now; an event applied late passes its own time)."""
        seen_wall = seen_wall or datetime.now(timezone.utc)
        with self._sessions() as s:
            found = s.execute(
                update(IncidentRecord)
                .where(IncidentRecord.id == incident_id)
                .where((IncidentRecord.last_seen_wall.is_(None)) | (IncidentRecord.last_seen_wall < seen_wall))
                .values(last_seen=media_time, last_seen_wall=seen_wall)
            ).rowcount
            s.commit()
            if not found and s.get(IncidentRecord, incident_id) is None:
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
            prior = s.scalar(select(IncidentRecord.status).where(IncidentRecord.id == incident_id))  # or suppressed
            # a shadow incident's decision measures its model; it stays shadow and never becomes a case
            new_status = "shadow" if prior in SHADOW_STATUSES else _STATUS_OF[decision]
            # UPDATE ... WHERE decision IS NULL: of two racing reviewers exactly one wins
            won = s.execute(
                update(IncidentRecord)
                .where(IncidentRecord.id == incident_id, IncidentRecord.decision.is_(None))
                .values(
                    decision=decision,
                    status=new_status,
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
                    before={"status": prior},
                    after={"status": new_status, "note": note, "reason": reason,
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

    def unqueue_shadow(self, incident_id: str) -> bool:
        """A shadow incident waiting for review turned out to overlap a serving incident, whose decision will
        judge it: take it out of the shadow review queue (unless someone decided it already)."""
        with self._sessions() as s:
            done = s.execute(update(IncidentRecord).where(
                IncidentRecord.id == incident_id, IncidentRecord.status == "shadow_queue",
                IncidentRecord.decision.is_(None)).values(status="shadow")).rowcount
            s.commit()
        return bool(done)

    def suppress(self, incident_id: str, matched: str, similarity: float) -> IncidentOut | None:
        """The verifier found that a pending incident looks like the rejected incident ``matched`` at the
        same place: keep it out of the review queue (audited). None if it is no longer pending."""
        with self._sessions() as s:
            won = s.execute(
                update(IncidentRecord)
                # suppressed_by set on a pending incident: a reviewer put it back; never suppress it again
                .where(IncidentRecord.id == incident_id, IncidentRecord.status == "pending",
                       IncidentRecord.decision.is_(None), IncidentRecord.suppressed_by.is_(None))
                .values(status="suppressed", suppressed_by=matched)
            ).rowcount
            if not won:
                return None
            record_audit(s, "system:verifier", "incident.suppress", incident_id=incident_id,
                         before={"status": "pending"},
                         after={"status": "suppressed", "suppressed_by": matched, "similarity": round(similarity, 3)})
            s.commit()
            out = _to_out(self._require(s, incident_id))
        self._notify(self._on_judged, out)
        return out

    def unsuppress(self, incident_id: str, actor: str | None = None) -> IncidentOut:
        """Put a suppressed incident back in the review queue (audited); a no-op on any other status.
        ``suppressed_by`` stays as the record of what it had matched."""
        with self._sessions() as s:
            won = s.execute(
                update(IncidentRecord)
                .where(IncidentRecord.id == incident_id, IncidentRecord.status == "suppressed")
                .values(status="pending")
            ).rowcount
            if won:
                record_audit(s, actor or "anonymous", "incident.unsuppress", incident_id=incident_id,
                             before={"status": "suppressed"}, after={"status": "pending"})
            s.commit()
            out = _to_out(self._require(s, incident_id))
        if won:
            self._notify(self._on_judged, out)
        return out

    def set_priority(self, incident_id: str, priority: float) -> None:
        """Rank a pending incident in the review queue (higher first), e.g. when it looks like a confirmed one."""
        with self._sessions() as s:
            s.execute(update(IncidentRecord).where(IncidentRecord.id == incident_id).values(priority=priority))
            s.commit()

    def set_history(self, incident_id: str, history: dict[str, Any] | None) -> None:
        """Link the incident to its earlier offences (``api.schemas.OffenceHistory`` as JSON; None unlinks)."""
        with self._sessions() as s:
            s.execute(update(IncidentRecord).where(IncidentRecord.id == incident_id).values(history=history))
            s.commit()

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

    def embedding(self, incident_id: str) -> StoredEmbedding | None:
        """The incident's appearance vectors, or None if it has none (or is unknown)."""
        query = _embedding_query().where(IncidentRecord.id == incident_id)
        with self._sessions() as s:
            row = s.execute(query).one_or_none()
            return _to_embedding(*row) if row is not None else None

    def embeddings(self, source: str | None = None, type: str | None = None, model: str | None = None,
                   status: str | None = None, limit: int = 10000,
                   reviewed: bool = False) -> builtins.list[StoredEmbedding]:
        """Incidents' vectors with their place and decision, newest first, for learning from reviews
        (``status``: "confirmed", "rejected" or "pending"; ``reviewed``: only decided ones)."""
        query = _filtered(_embedding_query(), status, type, source)
        if reviewed:
            query = query.where(IncidentRecord.decision.is_not(None))
        if model is not None:
            query = query.where(IncidentEmbeddingRecord.model == model)
        query = query.order_by(IncidentRecord.detected_wall.desc(), IncidentRecord.id.desc()).limit(limit)
        with self._sessions() as s:
            return [_to_embedding(r, e) for r, e in s.execute(query).all()]

    def closed_offences(self, source: str, event_type: str, before: datetime, since: datetime | None = None,
                        limit: int = 1000) -> builtins.list[ClosedOffence]:
        """The confirmed incidents of ``source`` and ``event_type`` (as the reviewer typed them) with vectors that
        were over by ``before``: the object was seen gone, or the case was verified or closed (not as invalid).
        Newest first; ``since`` bounds how far back."""
        closed_case = and_(CaseRecord.status.in_(("verified", "closed")), CaseRecord.closed_reason.is_(None),
                           CaseRecord.updated_at <= before)
        query = (select(IncidentRecord, IncidentEmbeddingRecord, CaseRecord.number, CaseRecord.status)
                 .join(IncidentEmbeddingRecord, IncidentEmbeddingRecord.incident_id == IncidentRecord.id)
                 .outerjoin(CaseRecord, CaseRecord.incident_id == IncidentRecord.id)
                 .where(IncidentRecord.source == source, IncidentRecord.status == "confirmed",
                        func.coalesce(IncidentRecord.corrected_type, IncidentRecord.type) == event_type,
                        IncidentRecord.detected_wall < before,
                        or_(IncidentRecord.ended_wall <= before, closed_case)))
        if since is not None:
            query = query.where(IncidentRecord.detected_wall >= since)
        query = query.order_by(IncidentRecord.detected_wall.desc(), IncidentRecord.id.desc()).limit(limit)
        with self._sessions() as s:
            return [ClosedOffence(_to_embedding(r, e), number, case_status, r.ended_wall, r.history)
                    for r, e, number, case_status in s.execute(query).all()]

    def review_version(self) -> tuple[int, datetime | None]:
        """(how many incidents are decided, the latest decision's time): changes with every decision, so a
        process that learns from decisions made elsewhere can poll it cheaply."""
        query = select(func.count(), func.max(IncidentRecord.reviewed_at)).where(IncidentRecord.decision.is_not(None))
        with self._sessions() as s:
            n, latest = s.execute(query).one()
            return int(n), latest

    def count(
        self,
        status: str | None = None,
        type: str | None = None,
        source: str | None = None,
        sources: Collection[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        plate: str | None = None,
    ) -> int:
        query = _filtered(select(func.count()).select_from(IncidentRecord), status, type, source, sources,
                          since, until, plate)
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
        plate: str | None = None,
    ) -> builtins.list[IncidentOut]:
        """Newest first (by detection wall time). ``sources`` limits to a set of sources (an area);
        ``since`` (inclusive) and ``until`` (exclusive) bound the detection wall time; ``plate``: plates
        containing this text (separators and case ignored)."""
        query = _filtered(select(IncidentRecord), status, type, source, sources, since, until, plate)
        if status == "pending":  # the review queue: what looks like confirmed incidents first
            query = query.order_by(IncidentRecord.priority.desc())
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

    @staticmethod
    def _notify_id(listeners: builtins.list[EmbeddedListener], incident_id: str) -> None:
        for listener in listeners:
            try:
                listener(incident_id)
            except Exception:  # a failed judgement leaves the incident in the queue
                log.exception("incident listener %r failed", listener)


def _filtered(
    query: Select[Any],
    status: str | None,
    type: str | None,
    source: str | None,
    sources: Collection[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    plate: str | None = None,
) -> Select[Any]:
    if plate:
        query = query.where(IncidentRecord.plate.contains(plate_query(plate), autoescape=True))
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


def _embedding_query() -> Select[Any]:
    return select(IncidentRecord, IncidentEmbeddingRecord).join(
        IncidentEmbeddingRecord, IncidentEmbeddingRecord.incident_id == IncidentRecord.id)


def _to_embedding(r: IncidentRecord, e: IncidentEmbeddingRecord) -> StoredEmbedding:
    return StoredEmbedding(
        incident_id=r.id, type=r.type, source=r.source, zone=r.zone, class_name=r.class_name,
        box=tuple(r.box), frame_size=tuple(r.frame_size), status=r.status, reject_reason=r.reject_reason,
        corrected_type=r.corrected_type, detected_wall=r.detected_wall, model=e.model,
        crop=decode_vector(e.crop), ring=decode_vector(e.ring) if e.ring is not None else None)


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
        ended_reason=r.ended_reason,
        last_seen_at=r.last_seen,
        last_seen_wall=r.last_seen_wall,
        ended_wall=r.ended_wall,
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
        evidence_missing=r.evidence_missing or None,
        review=review,
        suppressed_by=r.suppressed_by,
        priority=r.priority or 0.0,
        history=r.history,
        labels=r.labels,
        position=_position((r.extra or {}).get("position")),
        shadow_model=((r.extra or {}).get("shadow") or {}).get("model"),
        footage_job=((r.extra or {}).get("footage") or {}).get("job"),
        vehicle=vehicle_from_extra(r.id, r.extra),
        snapshots=snapshots_from_extra(r.id, r.extra),
        shop=shop_from_extra(r.extra),
    )


def _position(value: Any) -> dict[str, float] | None:
    """A moving camera's position at the incident ({lng, lat, timestamp}), when it had one."""
    if not isinstance(value, dict) or not all(isinstance(value.get(k), (int, float)) for k in ("lng", "lat")):
        return None
    return {k: float(value[k]) for k in ("lng", "lat", "timestamp") if isinstance(value.get(k), (int, float))}


_PLATE_SEPARATORS = re.compile(r"[\s·•.\-_]")


def plate_query(text: str) -> str:
    """Search text as plates are stored: no separators, upper case."""
    return _PLATE_SEPARATORS.sub("", text).upper()


def plate_of(extra: dict[str, Any] | None) -> str | None:
    """The plate read that ``extra.vehicle`` carries (None when there is none), as stored for search."""
    vehicle = (extra or {}).get("vehicle")
    plate = vehicle.get("plate") if isinstance(vehicle, dict) else None
    return plate_query(str(plate))[:16] if plate else None
