"""Reads of cases, apart from the commands that change them (``CaseService``): one case, the list, counts,
and how a case record is shown, to the API (links of ours) and in the dispatch messages (presigned links
when the store makes them). Nothing here writes."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Callable, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session, sessionmaker

from .case_lifecycle import OPEN_STATUSES, is_overdue, stages_of
from .case_schemas import (
    CaseEvidence,
    CaseLocation,
    CaseOut,
    CaseShop,
    CaseSnapshot,
    CaseVehicle,
    StageOut,
    case_event,
)
from .db import CaseRecord, CaseStageRecord, IncidentRecord
from .schemas import OffenceHistory, evidence_url, shop_from_extra
from .settings import ApiSettings

log = logging.getLogger("api.cases")

EvidenceLinker = Callable[[str, str, str], str]  # (incident_id, kind, key) -> URL, e.g. presigned
Clock = Callable[[], datetime]


class CaseQueries:
    def __init__(self, session_factory: sessionmaker[Session], settings: ApiSettings | None = None,
                 evidence_linker: EvidenceLinker | None = None, clock: Clock | None = None) -> None:
        self._sessions = session_factory
        self.settings = settings or ApiSettings()
        self.linker = evidence_linker
        self.now: Clock = clock or (lambda: datetime.now(timezone.utc))

    def get(self, case_id: int) -> CaseOut | None:
        with self._sessions() as s:
            record = s.get(CaseRecord, case_id)
            return self.out(record, stages_of(s, [record.id])[record.id]) if record is not None else None

    def get_by_number(self, number: str) -> CaseOut | None:
        with self._sessions() as s:
            record = s.scalars(select(CaseRecord).where(CaseRecord.number == number)).one_or_none()
            return self.out(record, stages_of(s, [record.id])[record.id]) if record is not None else None

    def get_for_incident(self, incident_id: str) -> CaseOut | None:
        with self._sessions() as s:
            record = s.scalars(select(CaseRecord).where(CaseRecord.incident_id == incident_id)).one_or_none()
            return self.out(record, stages_of(s, [record.id])[record.id]) if record is not None else None

    def list(self, status: str | None = None, department: str | None = None, limit: int = 100,
             offset: int = 0, overdue: bool = False) -> tuple[list[CaseOut], int]:
        """Newest first, and the total matching; ``overdue``: only cases past their deadline."""
        query = select(CaseRecord)
        if status is not None:
            query = query.where(CaseRecord.status == status)
        if overdue:
            query = query.where(CaseRecord.status.in_(OPEN_STATUSES), CaseRecord.deadline_at <= self.now())
        if department is not None:
            query = query.where(CaseRecord.department == department)
        with self._sessions() as s:
            total = int(s.scalar(select(func.count()).select_from(query.subquery())) or 0)
            records = s.scalars(query.order_by(CaseRecord.id.desc()).limit(limit).offset(offset)).all()
            stages = stages_of(s, [r.id for r in records])
            histories = histories_of(s, [r.incident_id for r in records])
            return [self.out(r, stages[r.id], histories.get(r.incident_id)) for r in records], total

    def count_by_status(self) -> dict[str, int]:
        with self._sessions() as s:
            return {status: int(n) for status, n in
                    s.execute(select(CaseRecord.status, func.count()).group_by(CaseRecord.status))}

    def overdue_by_department(self, now: datetime | None = None) -> dict[str, int]:
        now = now or self.now()
        with self._sessions() as s:
            rows = s.execute(select(CaseRecord.department, func.count())
                             .where(CaseRecord.status.in_(OPEN_STATUSES), CaseRecord.deadline_at <= now)
                             .group_by(CaseRecord.department))
            counts = {rule.department: 0 for rule in self.settings.dispatch.rules}  # a series from the start
            counts.update({department or "": int(n) for department, n in rows})
            return counts

    # -- presentation: records as the API and the dispatch messages show them ----------------------

    def vehicle_evidence(self, record: CaseRecord, extra: dict[str, Any] | None,
                          evidence: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """``vehicle``, ``snapshots`` and ``shop`` of the message, from the incident's ``extra`` and the case's evidence
        (or ``evidence``; links made as for the evidence list)."""
        items = {e["kind"]: e for e in (record.evidence or [] if evidence is None else evidence)}

        def link(kind: str) -> CaseEvidence | None:
            return self.evidence_item(record.incident_id, items[kind], True) if kind in items else None

        vehicle = None
        v = (extra or {}).get("vehicle")
        if isinstance(v, dict):
            vehicle = CaseVehicle(plate=v.get("plate"), plate_confidence=v.get("plate_confidence"),
                                  plate_valid=v.get("plate_valid"), plate_uncertain=v.get("plate_uncertain"),
                                  crop=link("vehicle_crop"))
        snapshots = []
        for shot in (extra or {}).get("snapshots") or []:
            item = link(shot.get("kind", "")) if isinstance(shot, dict) else None
            if item is not None:
                snapshots.append(CaseSnapshot(at=shot["at"], taken_at=shot.get("taken_at"), snapshot=item))
        shop = shop_from_extra(extra)
        shop_out = CaseShop.model_validate(shop.model_dump()) if shop is not None else None
        return {"vehicle": vehicle, "snapshots": snapshots, "shop": shop_out}

    def evidence(self, r: CaseRecord, for_dispatch: bool = False,
                  items: list[dict[str, Any]] | None = None) -> list[CaseEvidence]:
        return [self.evidence_item(r.incident_id, e, for_dispatch) for e in (r.evidence or [] if items is None
                                                                              else items)]

    def evidence_item(self, incident_id: str, e: dict[str, Any], for_dispatch: bool) -> CaseEvidence:
        """The item as the API shows it (a link of ours), or as dispatch gets it. The linker may return a URL, or an object with ``url`` and, for a
        shared copy that differs from the original (faces blurred), its own ``sha256``/``size``."""
        item = CaseEvidence(kind=e["kind"], url="", sha256=e["sha256"], size=e["size"],
                            content_type=e["content_type"])
        link: Any = None
        if for_dispatch and self.linker is not None:
            try:
                link = self.linker(incident_id, e["kind"], e["key"])
            except Exception:  # a link is not worth losing the case over: fall back to the API's
                log.exception("presigning %s/%s failed; sending the API link", incident_id, e["kind"])
        url = link if isinstance(link, str) else getattr(link, "url", None)
        if url and link is not None and not isinstance(link, str):
            for field in ("sha256", "size", "content_type"):
                if getattr(link, field, None) is not None:
                    setattr(item, field, getattr(link, field))
        url = url or evidence_url(incident_id, e["kind"])
        if for_dispatch and url.startswith("/"):  # a link of our own API: absolute for the dispatch system
            url = (self.settings.cases.public_base_url or "").rstrip("/") + url
        item.url = url
        return item

    def out(self, r: CaseRecord, stages: list[CaseStageRecord] | None = None,
            history: OffenceHistory | None | Literal["read"] = "read") -> CaseOut:
        """``history``: the incident's repeat-offence history when the caller read it (lists read them at once);
        by default it is read in the record's own session."""
        if history == "read":
            s = object_session(r)
            history = history_of(s, r.incident_id) if s is not None else None
        event = case_event(r.type, r.labels)
        event.national_code, event.local_code = r.national_code, r.local_code
        return CaseOut(
            id=r.id, number=r.number, incident_id=r.incident_id, status=r.status, department=r.department,
            queue_reason=r.queue_reason, event=event, description=r.description,
            location=CaseLocation(source=r.source, address=r.address, lng=r.lng, lat=r.lat, grid=r.grid,
                                  area=r.area),
            occurred_at=r.occurred_at, confidence=r.confidence, reviewer=r.reviewer, evidence=self.evidence(r),
            dispatch_ref=r.dispatch_ref, reopen_count=r.reopen_count, recheck_due_at=r.recheck_due_at,
            created_at=r.created_at, updated_at=r.updated_at, time_limit_h=r.time_limit_h, deadline_at=r.deadline_at,
            overdue=is_overdue(r, self.now()), closed_reason=r.closed_reason,
            timeline=[StageOut(stage=t.stage, at=t.at, round=t.round, department=t.department, detail=t.detail)
                      for t in stages or []],
            history=history,
        )


def history_of(s: Session, incident_id: str) -> OffenceHistory | None:
    """The incident's earlier offences (a repeat offender), for the case and its dispatch message."""
    raw = s.scalar(select(IncidentRecord.history).where(IncidentRecord.id == incident_id))
    return OffenceHistory.model_validate(raw) if raw else None


def histories_of(s: Session, incident_ids: list[str]) -> dict[str, OffenceHistory]:
    """``history_of`` for many incidents in one query (those without a history are left out)."""
    if not incident_ids:
        return {}
    rows = s.execute(select(IncidentRecord.id, IncidentRecord.history).where(IncidentRecord.id.in_(incident_ids)))
    return {incident_id: OffenceHistory.model_validate(raw) for incident_id, raw in rows if raw}
