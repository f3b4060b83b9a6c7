"""Cases: a confirmed incident (or, when configured, one above a per-type confidence) becomes a case for
the dispatch system, with a case number, codes and labels, place, evidence and the responsible
department (or a place in the manual-assignment queue).

Every change of a case commits together with its audit row and, when the dispatch system must hear of
it, its outbox message. Status flow::

    manual --assign--> queued --delivered--> dispatched --callback--> handled --re-check ok / callback--> verified
                                                 ^                        |                                |
                                                 +--delivered-- reopened <+ re-check: still there     closed <+ callback

with the lifecycle of ``api/case_lifecycle.py`` around it: ``dispatched --accepted--> accepted`` (签收),
``dispatched|accepted --returned--> manual`` (回退; a reviewer reassigns it, which sends ``case.reassigned``,
or closes it as invalid), reminders and overdue alarms of each round, and a time-stamped stage for each step.
Times come from ``clock`` (injectable, so tests need no waiting).

Every status change goes through the table of ``api/case_states.py`` (a move it lacks is a ``CaseConflict``);
reads and the way a case is shown live in ``api/case_queries.py``; ``render`` only reads.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from .audit import record_audit
from .case_schemas import (
    CASE_SCHEMA,
    CallbackIn,
    CaseEvidence,
    CaseMessage,
    CaseOut,
    CaseStatus,
    Recheck,
    RecheckEvidence,
    Reminder,
    Reopen,
    case_event,
)
from .case_lifecycle import (
    DISPATCHING_KINDS,
    OPEN_STATUSES,
    add_stage,
    blocked_departments,
    reminder_pending,
    reminders_due,
    return_counts,
    start_round,
)
from .case_queries import CaseQueries, Clock, EvidenceLinker, history_of
from .case_states import CALLBACK_MOVES, INITIAL, advance, can, sources_of
from .case_states import CaseConflict  # noqa: F401  (re-exported: callers have always found it here)
from .db import (
    CaseCounterRecord,
    CaseRecord,
    CaseStageRecord,
    DispatchCallbackRecord,
    EvidenceRecord,
    IncidentRecord,
)
from .dispatch_rules import route
from .dispatch_outbox import OutboxMessage, enqueue
from .settings import ApiSettings, SourceInfo

log = logging.getLogger(__name__)

SourceInfoProvider = Callable[[str], SourceInfo | None]
EventLabelsProvider = Callable[[str], dict[str, Any] | None]
ProtectEvidence = Callable[[str], Any]
CaseListener = Callable[[CaseOut], None]
# (incident_id, source, at) -> an evidence item (kind, key, sha256, size, content_type) of the spot at ``at``
RecheckSnapshot = Callable[[str, str, datetime], dict[str, Any] | None]

# legal moves by a dispatch callback: new status -> statuses it may come from (from the one table)
CALLBACK_FROM: dict[str, tuple[str, ...]] = {move: sources_of(move) for move in CALLBACK_MOVES}
EVIDENCE_KINDS = ("snapshot", "snapshot_raw", "clip", "clip_preview", "manifest")


class CaseNotFound(LookupError):
    pass


@dataclass(frozen=True)
class RecheckOutcome:
    case_number: str
    verdict: str  # verified | reopened | waiting | not_judged


class CaseService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: ApiSettings | None = None,
        source_info: SourceInfoProvider | None = None,
        event_labels: EventLabelsProvider | None = None,
        protect_evidence: ProtectEvidence | None = None,
        evidence_linker: EvidenceLinker | None = None,
        clock: Clock | None = None,
        recheck_snapshot: RecheckSnapshot | None = None,
    ) -> None:
        self._sessions = session_factory
        self.now: Clock = clock or (lambda: datetime.now(timezone.utc))
        self._recheck_snapshot = recheck_snapshot
        self.settings = settings or ApiSettings()
        self._source_info = source_info or (lambda _source: None)
        self._event_labels = event_labels or (lambda _type: None)
        self._protect = protect_evidence
        self._linker = evidence_linker
        self.queries = CaseQueries(session_factory, self.settings, evidence_linker, lambda: self.now())
        self._listeners: list[CaseListener] = []
        self._reminded: list[CaseListener] = []
        self._changed: dict[int, CaseOut] = {}  # delivered message id -> the case it moved (for listeners)
        self._zone = ZoneInfo(self.settings.cases.timezone)

    def session(self) -> Session:
        """A session on the cases' database, for read-only reports (e.g. department statistics)."""
        return self._sessions()

    def on_changed(self, listener: CaseListener) -> None:
        self._listeners.append(listener)

    def on_reminded(self, listener: CaseListener) -> None:
        """Told when a reminder or overdue alarm was enqueued (the case's status did not change)."""
        self._reminded.append(listener)

    # -- creation ---------------------------------------------------------------------------------

    def eligible(self, incident: IncidentRecord) -> bool:
        if incident.status == "confirmed":
            return True
        threshold = self.settings.cases.auto_case_min_confidence.get(incident.type)
        return incident.status == "pending" and threshold is not None and incident.score >= threshold

    def create_for_incident(self, incident_id: str, actor: str = "system") -> CaseOut | None:
        """The incident's case, created if the incident qualifies and has none; None if it does not
        qualify. Safe to call again and from racing threads or processes: one case per incident."""
        with self._sessions() as s:
            existing = s.scalars(select(CaseRecord).where(CaseRecord.incident_id == incident_id)).one_or_none()
            if existing is not None:
                return self._out(existing)
            incident = s.get(IncidentRecord, incident_id)
            if incident is None or not self.eligible(incident):
                return None
            record = self._new_case(s, incident)
            s.add(record)
            try:
                s.flush()  # the id, for the audit row and the outbox message
                record_audit(s, actor, "case.created", incident_id=incident_id, case_id=record.id,
                             after=_case_state(record))
                add_stage(s, record, "filed", record.created_at, {"queue_reason": record.queue_reason}
                          if record.queue_reason else None)
                if record.status == "queued":
                    self._enqueue(s, record, "case.created")
                s.commit()
            except IntegrityError:  # another thread or process made it first
                s.rollback()
                existing = s.scalars(select(CaseRecord).where(CaseRecord.incident_id == incident_id)).one()
                return self._out(existing)
            out = self._out(record)
        log.info("case %s for incident %s: %s", out.number, incident_id, out.department or "manual assignment")
        self._protect_evidence(out.id, incident_id)
        self._notify(out)
        return out

    def _new_case(self, s: Session, incident: IncidentRecord) -> CaseRecord:
        now = self.now()
        case_type = incident.corrected_type or incident.type
        labels = incident.labels if case_type == incident.type else (self._event_labels(case_type) or {})
        if not labels and case_type == incident.type:
            labels = self._event_labels(case_type) or {}
        event = case_event(case_type, labels)
        place = self._place(incident)
        routing = route(self.settings.dispatch.rules, case_type, place.area, incident.score,
                        self.settings.dispatch.min_confidence)
        number = self._next_number(s, now)
        return CaseRecord(
            number=number, incident_id=incident.id, status=INITIAL[0] if routing.manual else INITIAL[1],
            type=case_type, department=routing.department, queue_reason=routing.reason,
            rule_index=routing.rule_index if not routing.manual else None, dispatch_round=0,
            national_code=event.national_code, local_code=event.local_code, labels=labels or None,
            description=self._describe(incident, event.label_zh, event.label_en, place),
            source=incident.source, address=place.address, lng=place.lng, lat=place.lat, grid=place.grid,
            area=place.area, occurred_at=incident.detected_wall, confidence=incident.score,
            reviewer=incident.reviewer,
            evidence=[{"kind": e.kind, "key": e.key, "sha256": e.sha256, "size": e.size,
                       "content_type": e.content_type} for e in sorted(incident.evidence, key=lambda e: e.kind)],
            evidence_protected=False, reopen_count=0, created_at=now, updated_at=now,
        )

    def incident_place(self, incident: IncidentRecord) -> SourceInfo:
        """Where the incident was: the map places incidents as their cases are placed."""
        return self._place(incident)

    def _place(self, incident: IncidentRecord) -> SourceInfo:
        """Fixed cameras: the source's configured place. Moving cameras: the position the incident carries
        (``extra.position`` as ``{lng, lat}``, or ``extra.lng`` / ``extra.lat``), over the source's."""
        base = self._source_info(incident.source) or SourceInfo()
        extra = incident.extra or {}
        position = extra.get("position")
        lng = lat = None
        if isinstance(position, dict):
            lng, lat = position.get("lng"), position.get("lat")
        elif isinstance(position, (list, tuple)) and len(position) >= 2:
            lng, lat = position[0], position[1]
        lng = extra.get("lng", lng)
        lat = extra.get("lat", lat)
        fields = base.model_dump()
        if lng is not None and lat is not None:
            fields.update(lng=float(lng), lat=float(lat))
        for key in ("address", "grid", "area"):
            if extra.get(key):
                fields[key] = str(extra[key])
        return SourceInfo.model_validate(fields)

    def _describe(self, incident: IncidentRecord, zh: str | None, en: str | None, place: SourceInfo) -> str:
        """One line for the dispatcher, in Chinese with the English label (the codes travel separately)."""
        local = incident.detected_wall.astimezone(self._zone).strftime("%Y-%m-%d %H:%M:%S %z")
        name = zh or incident.type
        if en and en != name:
            name += f"（{en}）"
        where = f"{place.address}，" if place.address else ""
        zone = f"，区域 {incident.zone}" if incident.zone else ""
        text = (f"{name}：{where}摄像头 {incident.source}{zone}；目标 {incident.class_name}，"
                f"置信度 {incident.score:.2f}；发现时间 {local}")
        vehicle = (incident.extra or {}).get("vehicle")
        if isinstance(vehicle, dict) and vehicle.get("plate"):
            doubt = "，待人工核实" if vehicle.get("plate_uncertain") else ""
            text += f"；车牌 {vehicle['plate']}（识别置信度 {float(vehicle.get('plate_confidence') or 0):.2f}{doubt}）"
        shop = (incident.extra or {}).get("shop")
        if isinstance(shop, dict) and shop.get("name"):
            doubt = "，待人工核实" if shop.get("uncertain") else ""
            text += f"；责任商户 {shop['name']}{doubt}"
        if incident.note:
            text += f"；审核备注：{incident.note}"
        return text

    def _next_number(self, s: Session, now: datetime) -> str:
        """SS-YYYYMMDD-NNNNNN: a per-day sequence (day in the configured zone), by an atomic upsert."""
        day = now.astimezone(self._zone).strftime("%Y%m%d")
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = (insert(CaseCounterRecord).values(day=day, last=1)
                .on_conflict_do_update(index_elements=["day"], set_={"last": CaseCounterRecord.last + 1})
                .returning(CaseCounterRecord.last))
        n = s.execute(stmt).scalar_one()
        return f"{self.settings.cases.number_prefix}-{day}-{n:06d}"

    # -- sweep: the safety net for anything a crash or an outage interrupted --------------------

    def sweep(self, limit: int = 200) -> int:
        """Create the cases that should exist and retry evidence protection; returns cases created."""
        created = 0
        has_case = select(CaseRecord.id).where(CaseRecord.incident_id == IncidentRecord.id).exists()
        wanted = select(IncidentRecord.id).where(~has_case, IncidentRecord.status == "confirmed")
        auto = self.settings.cases.auto_case_min_confidence
        with self._sessions() as s:
            ids = list(s.scalars(wanted.limit(limit)))
            for event_type, threshold in auto.items():
                ids += s.scalars(select(IncidentRecord.id).where(
                    ~has_case, IncidentRecord.status == "pending", IncidentRecord.type == event_type,
                    IncidentRecord.score >= threshold).limit(limit))
            unprotected = list(s.execute(select(CaseRecord.id, CaseRecord.incident_id)
                                         .where(CaseRecord.evidence_protected.is_(False)).limit(limit)))
        for incident_id in ids:
            if self.create_for_incident(incident_id, actor="system:sweep") is not None:
                created += 1
        for case_id, incident_id in unprotected:
            self._protect_evidence(case_id, incident_id)
        return created

    def _protect_evidence(self, case_id: int, incident_id: str) -> None:
        if self._protect is None:
            return
        try:
            self._protect(incident_id)
        except Exception:  # storage down: the sweep retries; the case itself is safe
            log.exception("case %s: protecting the evidence of %s failed; will retry", case_id, incident_id)
            return
        with self._sessions() as s:
            record = s.get(CaseRecord, case_id)
            if record is not None and not record.evidence_protected:
                record.evidence_protected = True
                s.commit()

    # -- manual assignment ------------------------------------------------------------------------

    def assign(self, case_id: int, department: str, actor: str, note: str = "") -> CaseOut:
        with self._sessions() as s:
            record = self._require(s, case_id, lock=True)
            status = advance(record.number, record.status, "assign",
                             f"case {record.number} is {record.status}, not waiting for assignment")
            before = _case_state(record)
            returns = return_counts(s, record.id)
            previous = (s.scalars(select(CaseStageRecord.department).where(
                CaseStageRecord.case_id == record.id, CaseStageRecord.stage == "returned")
                .order_by(CaseStageRecord.id.desc()).limit(1)).first() if returns else None)
            record.department, record.status, record.queue_reason = department, status, None
            record.updated_at = self.now()
            record_audit(s, actor, "case.reassigned" if returns else "case.assigned", incident_id=record.incident_id,
                         case_id=record.id, before=before, after={**_case_state(record), "note": note})
            if returns:  # it was dispatched before and came back: the dispatch system knows it already
                self._enqueue(s, record, "case.reassigned", previous_department=previous,
                              key=f"{record.number}.reassign-{sum(returns.values())}")
            else:
                self._enqueue(s, record, "case.created")
            s.commit()
            out = self._out(record)
        self._notify(out)
        return out

    # -- the dispatch system's side ---------------------------------------------------------------

    def _enqueue(self, s: Session, record: CaseRecord, kind: str, reopen: Reopen | None = None,
                 key: str | None = None, **extra: Any) -> None:
        """Add a message for the dispatch system; its key is derived from the records (never random), so
        the same message computed twice is the same key and the outbox's unique key keeps one."""
        if key is None:
            key = record.number if kind == "case.created" else f"{record.number}.reopen-{record.reopen_count}"
        extra.setdefault("history", history_of(s, record.incident_id))
        incident = s.get(IncidentRecord, record.incident_id)
        extra.update(self._vehicle_evidence(record, incident.extra if incident is not None else None))
        enqueue(s, record.id, kind, key, self._message(record, kind, key, reopen, **extra).model_dump(mode="json"))

    def _message(self, record: CaseRecord, kind: str, key: str, reopen: Reopen | None = None,
                 **extra: Any) -> CaseMessage:
        out = self._out(record)
        limit = self._limit_hours(record) if kind in DISPATCHING_KINDS else record.time_limit_h
        return CaseMessage(
            message_id=key, message=kind, case_number=record.number, incident_id=record.incident_id,
            event=out.event, description=record.description, department=record.department or "",
            location=out.location, occurred_at=record.occurred_at, confidence=record.confidence,
            reviewer=record.reviewer, evidence=self._evidence(record, True), reopen=reopen,
            time_limit_h=limit, **extra,
        )

    def _limit_hours(self, record: CaseRecord) -> float:
        from .time_limits import limit_hours

        return limit_hours(self.settings.dispatch, record.department, record.area, record.type)

    def render(self, message: OutboxMessage) -> dict[str, Any]:
        """The body to send now: the stored message, with evidence links made fresh when the store
        presigns them (presigned links expire; a message may wait in the outbox for a long time) and with
        evidence that arrived after it was queued. A query: it writes nothing (``attach_late_evidence``
        records that evidence on the case)."""
        body = dict(message.payload)
        if body.get("schema") != CASE_SCHEMA:
            return body
        with self._sessions() as s:
            record = s.get(CaseRecord, message.case_id)
            if record is None:
                return body
            items = [*(record.evidence or []), *_late_evidence(s, record)]
            queued_kinds = {e.get("kind") for e in body.get("evidence") or []}
            if self._linker is not None or {e["kind"] for e in items} != queued_kinds:
                body["evidence"] = [e.model_dump(mode="json") for e in self._evidence(record, True, items)]
                incident = s.get(IncidentRecord, record.incident_id)
                fresh = self._vehicle_evidence(record, incident.extra if incident is not None else None, items)
                if fresh["vehicle"] is not None:
                    body["vehicle"] = fresh["vehicle"].model_dump(mode="json")
                body["snapshots"] = [snap.model_dump(mode="json") for snap in fresh["snapshots"]]
            if body.get("history") is None:  # linked after the message was queued (e.g. a case by confidence)
                history = history_of(s, record.incident_id)
                if history is not None:
                    body["history"] = history.model_dump(mode="json")
        return body

    def attach_late_evidence(self, message: OutboxMessage) -> bool:
        """Evidence that arrived after the case was made (a clip still recording when an incident became a
        case by confidence) joins the case before its message is sent. Returns whether any did."""
        with self._sessions() as s:
            record = s.get(CaseRecord, message.case_id)
            late = _late_evidence(s, record) if record is not None else []
            if not late:
                return False
            record.evidence = [*(record.evidence or []), *late]
            s.commit()
        return True

    def delivered(self, message: OutboxMessage) -> Callable[[Session], None]:
        """What a delivery changes, run by the outbox in the transaction that marks it delivered;
        ``after_delivery`` then tells the listeners."""

        def apply(s: Session) -> None:
            record = s.get(CaseRecord, message.case_id)
            if message.kind not in DISPATCHING_KINDS or record is None or not can("deliver", record.status):
                return  # a callback may have moved it on already; reminders and results move nothing
            before = _case_state(record)
            now = self.now()
            start_round(s, self.settings.dispatch, record, now, message.key)
            record.status, record.updated_at = advance(record.number, record.status, "deliver"), now
            record_audit(s, "system:dispatch", "case.dispatched", incident_id=record.incident_id,
                         case_id=record.id, before=before, after={**_case_state(record), "message": message.key})
            s.flush()
            self._changed[message.id] = self._out(record)

        return apply

    def after_delivery(self, message: OutboxMessage) -> None:
        out = self._changed.pop(message.id, None)
        if out is not None:
            self._notify(out)

    def apply_callback(self, callback: CallbackIn, actor: str) -> tuple[CaseOut, bool]:
        """Move the case as the dispatch system reports; (case, duplicate). Raises CaseNotFound, or
        CaseConflict for a move the status does not allow."""
        now = self.now()
        with self._sessions() as s:
            seen = s.scalars(select(DispatchCallbackRecord)
                             .where(DispatchCallbackRecord.event_id == callback.event_id)).one_or_none()
            if seen is not None:
                record = s.get(CaseRecord, seen.case_id)
                return self._out(record), True
            record = s.scalars(select(CaseRecord).where(CaseRecord.number == callback.case_number)
                               .with_for_update()).one_or_none()
            if record is None:
                raise CaseNotFound(callback.case_number)
            after = advance(record.number, record.status, callback.status)
            before = _case_state(record)
            if can("deliver", record.status):  # it answered before we recorded our delivery
                start_round(s, self.settings.dispatch, record, now, f"callback {callback.event_id}")
            self._apply_status(s, record, callback, after, now)
            if callback.dispatch_ref:
                record.dispatch_ref = callback.dispatch_ref
            s.add(DispatchCallbackRecord(event_id=callback.event_id, case_id=record.id, status=callback.status,
                                         received_at=now, body=callback.model_dump(mode="json")))
            record_audit(s, actor, f"case.{callback.status}", incident_id=record.incident_id, case_id=record.id,
                         before=before, after={**_case_state(record), "event_id": callback.event_id,
                                               "note": callback.note, "handler": callback.handler,
                                               **({"reason": callback.reason} if callback.reason else {})})
            try:
                s.commit()
            except IntegrityError:  # the same event_id raced in from a retry: the first one won
                s.rollback()
                seen = s.scalars(select(DispatchCallbackRecord)
                                 .where(DispatchCallbackRecord.event_id == callback.event_id)).one()
                return self._out(s.get(CaseRecord, seen.case_id)), True
            out = self._out(record)
        self._notify(out)
        return out, False

    def _apply_status(self, s: Session, record: CaseRecord, callback: CallbackIn, after: CaseStatus,
                      now: datetime) -> None:
        detail: dict[str, Any] = {"event_id": callback.event_id}
        if callback.at is not None:
            detail["reported_at"] = callback.at.isoformat()
        if callback.handler:
            detail["handler"] = callback.handler
        record.updated_at = now
        if callback.status == "returned":
            department = record.department
            detail.update(reason=callback.reason, rule_index=record.rule_index if record.dispatch_round == 1 else None)
            add_stage(s, record, "returned", now, detail)
            record.status, record.department = after, None
            record.queue_reason = f"returned by {department}: {callback.reason}"[:255]
            record.recheck_due_at = None
            return
        record.status = after
        record.recheck_due_at = (now + timedelta(seconds=self.settings.dispatch.recheck_after_s)
                                 if callback.status == "handled" else None)
        if callback.status == "accepted":
            record.accepted_at = now
        elif callback.status == "handled":
            detail["on_time"] = record.deadline_at is None or now <= record.deadline_at
        elif callback.status == "verified":
            detail["by"] = "dispatch"
        add_stage(s, record, "checked" if callback.status == "verified" else callback.status, now, detail)

    def invalidate(self, case_id: int, reason: str, actor: str) -> CaseOut:
        """Close a case of the manual queue as invalid (e.g. a returned false alarm), with the reason."""
        with self._sessions() as s:
            record = self._require(s, case_id, lock=True)
            status = advance(record.number, record.status, "invalidate",
                             f"case {record.number} is {record.status}; only the manual queue closes as invalid")
            before = _case_state(record)
            now = self.now()
            record.status, record.closed_reason, record.updated_at = status, reason, now
            record_audit(s, actor, "case.invalidated", incident_id=record.incident_id, case_id=record.id,
                         before=before, after={**_case_state(record), "reason": reason})
            add_stage(s, record, "closed", now, {"invalid": True, "reason": reason, "by": actor})
            s.commit()
            out = self._out(record)
        self._notify(out)
        return out

    # -- reminders (催办) and overdue alarms (超期报警) ------------------------------------------------

    def remind_due(self, now: datetime | None = None, limit: int = 200) -> list[str]:
        """Enqueue the reminders and overdue alarms that are due, computed from the records (a restart
        loses nothing and repeats nothing). Returns the keys enqueued."""
        now = now or self.now()
        with self._sessions() as s:
            ids = list(s.scalars(select(CaseRecord.id).where(CaseRecord.status.in_(OPEN_STATUSES), reminder_pending(now))
                                 .order_by(CaseRecord.id).limit(limit)))
        keys: list[str] = []
        for case_id in ids:
            with self._sessions() as s:
                record = s.scalars(select(CaseRecord).where(CaseRecord.id == case_id).with_for_update()).one()
                wanted = reminders_due(s, record, now)
                for reminder in wanted:
                    self._enqueue(s, record, reminder.kind, key=reminder.key, reminder=Reminder(
                        reason=reminder.reason, round=record.dispatch_round, dispatched_at=record.dispatched_at,
                        deadline_at=record.deadline_at, accept_due_at=record.accept_due_at))
                if not wanted:
                    continue
                try:
                    s.commit()
                except IntegrityError:  # another process enqueued them first
                    s.rollback()
                    continue
                keys += [w.key for w in wanted]
                out = self._out(record)
            log.info("case %s: %s", out.number, ", ".join(w.reason for w in wanted))
            self._notify(out, self._reminded)
        return keys

    # -- re-check (核查) ---------------------------------------------------------------------------

    def recheck_due(self, now: datetime | None = None, limit: int = 100) -> list[RecheckOutcome]:
        """Judge the handled cases whose deadline has passed: the incident ended by the deadline ->
        verified; still seen after it (or still open with fresh sightings) -> re-opened and reported to
        dispatch. An open incident with no sighting near the deadline (camera silent, or its process dead;
        without any sighting recorded, its detection counts as the last) waits. An incident that ended
        while the service was down (``ended_reason`` interrupted) ended somewhere between its last sighting
        and the restart: judged only when that whole span lies on one side of the deadline, else not judged
        at all (the case keeps its status, an audit entry says why)."""
        now = now or self.now()
        stale = timedelta(seconds=self.settings.dispatch.recheck_stale_s)
        with self._sessions() as s:
            due = list(s.scalars(select(CaseRecord.id).where(
                CaseRecord.status == "handled", CaseRecord.recheck_due_at <= now).limit(limit)))
        outcomes: list[RecheckOutcome] = []
        for case_id in due:
            with self._sessions() as s:
                record = s.scalars(select(CaseRecord).where(CaseRecord.id == case_id).with_for_update()).one()
                if record.status != "handled" or record.recheck_due_at is None or record.recheck_due_at > now:
                    continue
                deadline = record.recheck_due_at
                incident = s.get(IncidentRecord, record.incident_id)
                ended = incident.ended_wall
                seen = incident.last_seen_wall
                last_known = seen or incident.detected_wall
                if incident.ended_reason == "interrupted":
                    verdict, why = _judge_interrupted(last_known, ended, deadline)
                elif ended is not None and ended <= deadline:
                    verdict, why = "verified", f"incident ended {ended.isoformat()} before the deadline"
                elif ended is not None:
                    verdict, why = "reopened", f"still there after the deadline: ended only {ended.isoformat()}"
                elif last_known < deadline - stale:
                    verdict = "waiting"
                    why = f"camera has not reported the incident since {last_known.isoformat()}"
                else:
                    verdict = "reopened"
                    why = (f"still seen {seen.isoformat()}, after the deadline" if seen is not None and seen > deadline
                           else "the incident is still open after the deadline")
                if verdict == "waiting":
                    outcomes.append(RecheckOutcome(record.number, verdict))
                    continue
                before = _case_state(record)
                if verdict == "not_judged":  # stays handled; a person decides
                    record.updated_at, record.recheck_due_at = now, None
                    record_audit(s, "system:recheck", "case.recheck_skipped", incident_id=record.incident_id,
                                 case_id=record.id, before=before, after={**_case_state(record), "why": why})
                    s.commit()
                    log.info("re-check of case %s: not judged (%s)", record.number, why)
                    outcomes.append(RecheckOutcome(record.number, verdict))
                    continue
                record.status = advance(record.number, record.status, verdict)
                record.updated_at, record.recheck_due_at = now, None
                recheck = Recheck(verdict=verdict, reason=why, deadline=deadline, last_seen_at=seen, ended_at=ended,
                                  evidence=self._recheck_evidence(record, deadline))
                add_stage(s, record, "checked", now, {"verdict": verdict, "why": why, "by": "camera"})
                if verdict == "reopened":
                    record.reopen_count += 1
                    reopen = Reopen(count=record.reopen_count, reason=why, last_seen_at=seen)
                    add_stage(s, record, "reopened", now, {"count": record.reopen_count})
                    blocked = blocked_departments(s, record.id)
                    if record.department in blocked:  # it returned the case twice: a person decides
                        record.status = advance(record.number, record.status, "escalate")
                        record.queue_reason = f"reopened; {record.department} returned it twice before"[:255]
                        record.department = None
                    else:
                        self._enqueue(s, record, "case.reopened", reopen, recheck=recheck)
                else:
                    self._enqueue(s, record, "case.verified", key=f"{record.number}.verified-{record.dispatch_round}",
                                  recheck=recheck)
                record_audit(s, "system:recheck", f"case.{verdict}", incident_id=record.incident_id,
                             case_id=record.id, before=before, after={**_case_state(record), "why": why})
                s.commit()
                out = self._out(record)
            log.info("re-check of case %s: %s (%s)", out.number, verdict, why)
            outcomes.append(RecheckOutcome(out.number, verdict))
            self._notify(out)
        return outcomes

    def _recheck_evidence(self, record: CaseRecord, deadline: datetime) -> list[RecheckEvidence]:
        """The spot at the deadline (clear, or still occupied), when a snapshot provider is wired."""
        if self._recheck_snapshot is None:
            return []
        try:
            item = self._recheck_snapshot(record.incident_id, record.source, deadline)
        except Exception:  # the verdict stands without its picture
            log.exception("re-check snapshot of case %s failed", record.number)
            return []
        if not item:
            return []
        linked = self._evidence_item(record.incident_id, item, True)
        return [RecheckEvidence(**linked.model_dump(), taken_at=item.get("taken_at"))]

    # -- reads: api/case_queries.py (kept here for the service's callers) ------------------------

    def get(self, case_id: int) -> CaseOut | None:
        return self.queries.get(case_id)

    def get_by_number(self, number: str) -> CaseOut | None:
        return self.queries.get_by_number(number)

    def get_for_incident(self, incident_id: str) -> CaseOut | None:
        return self.queries.get_for_incident(incident_id)

    def list(self, status: str | None = None, department: str | None = None, limit: int = 100,
             offset: int = 0, overdue: bool = False) -> tuple[list[CaseOut], int]:
        return self.queries.list(status, department, limit, offset, overdue)

    def count_by_status(self) -> dict[str, int]:
        return self.queries.count_by_status()

    def overdue_by_department(self, now: datetime | None = None) -> dict[str, int]:
        return self.queries.overdue_by_department(now)

    # -- helpers ----------------------------------------------------------------------------------

    def _out(self, r: CaseRecord, stages: list[CaseStageRecord] | None = None) -> CaseOut:
        return self.queries.out(r, stages)

    def _evidence(self, r: CaseRecord, for_dispatch: bool = False,
                  items: list[dict[str, Any]] | None = None) -> list[CaseEvidence]:
        return self.queries.evidence(r, for_dispatch, items)

    def _evidence_item(self, incident_id: str, e: dict[str, Any], for_dispatch: bool) -> CaseEvidence:
        return self.queries.evidence_item(incident_id, e, for_dispatch)

    def _vehicle_evidence(self, record: CaseRecord, extra: dict[str, Any] | None,
                          evidence: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return self.queries.vehicle_evidence(record, extra, evidence)

    @staticmethod
    def _require(s: Session, case_id: int, lock: bool = False) -> CaseRecord:
        query = select(CaseRecord).where(CaseRecord.id == case_id)
        record = s.scalars(query.with_for_update() if lock else query).one_or_none()
        if record is None:
            raise CaseNotFound(str(case_id))
        return record

    def _notify(self, out: CaseOut, listeners: list[CaseListener] | None = None) -> None:
        for listener in self._listeners if listeners is None else listeners:
            try:
                listener(out)
            except Exception:
                log.exception("case listener %r failed", listener)


def _late_evidence(s: Session, record: CaseRecord) -> list[dict[str, Any]]:
    """The incident's evidence the case does not hold yet (items as ``CaseRecord.evidence`` keeps them)."""
    have = {e["kind"] for e in record.evidence or []}
    late = s.scalars(select(EvidenceRecord).where(EvidenceRecord.incident_id == record.incident_id,
                                                  EvidenceRecord.kind.not_in(have)))
    return [{"kind": e.kind, "key": e.key, "sha256": e.sha256, "size": e.size, "content_type": e.content_type}
            for e in sorted(late, key=lambda e: e.kind)]


def _case_state(r: CaseRecord) -> dict[str, Any]:
    return {"number": r.number, "status": r.status, "department": r.department}


def _judge_interrupted(last_seen: datetime, ended: datetime | None, deadline: datetime) -> tuple[str, str]:
    """An incident that ended while the service was down: gone at some time after ``last_seen`` and by
    ``ended`` (when the restarted service found its spot empty)."""
    if last_seen > deadline:
        return "reopened", f"still seen {last_seen.isoformat()}, after the deadline"
    if ended is not None and ended <= deadline:
        return "verified", f"gone by {ended.isoformat()} (seen empty after a restart), before the deadline"
    return "not_judged", (f"the service was down when the incident ended, some time between {last_seen.isoformat()} "
                          f"and {ended.isoformat() if ended else 'now'}; the deadline lies in between")
