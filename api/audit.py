"""The audit log: who changed what and when, written in the same transaction as the change itself
(a review or case change that commits always has its audit row; one that rolls back has none)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .auth import Principal, require
from .db import AuditRecord
from .params import MAX_OFFSET


def record_audit(
    session: Session,
    actor: str,
    action: str,
    *,
    incident_id: str | None = None,
    case_id: int | None = None,
    source_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add an audit row to ``session`` (committed with the caller's change)."""
    session.add(AuditRecord(at=datetime.now(timezone.utc), actor=actor, action=action, incident_id=incident_id,
                            case_id=case_id, source_id=source_id, before=_jsonable(before), after=_jsonable(after)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    incident_id: str | None
    case_id: int | None
    source_id: str | None = None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditLog:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def append(self, actor: str, action: str, **details: Any) -> None:
        """An audit row on its own (no change of record goes with it), e.g. a refused login."""
        with self._sessions() as s:
            record_audit(s, actor, action, **details)
            s.commit()

    def list(self, incident_id: str | None = None, case_id: int | None = None, limit: int = 200,
             offset: int = 0, source_id: str | None = None) -> list[AuditOut]:
        """Newest first."""
        query = select(AuditRecord)
        if source_id is not None:
            query = query.where(AuditRecord.source_id == source_id)
        if incident_id is not None:
            query = query.where(AuditRecord.incident_id == incident_id)
        if case_id is not None:
            query = query.where(AuditRecord.case_id == case_id)
        query = query.order_by(AuditRecord.id.desc()).limit(limit).offset(offset)
        with self._sessions() as s:
            return [AuditOut.model_validate(r, from_attributes=True) for r in s.scalars(query)]


def audit_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["audit"])

    @router.get("/audit", response_model=list[AuditOut])
    def list_audit(
        request: Request,
        _: Annotated[Principal, Depends(require("audit:read"))],
        incident_id: str | None = None,
        case_id: int | None = None,
        source_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> list[AuditOut]:
        """Every review decision, case change, source change and refused login; newest first (admins only)."""
        return request.app.state.audit.list(incident_id, case_id, limit, offset, source_id)

    return router
