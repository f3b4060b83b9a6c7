"""JSON of cases: the API's case records, manual assignment, and the dispatch contract (versioned).

The dispatch contract (``streetsight.case/v1``) is what the dispatch system receives, one POST per
message with an ``Idempotency-Key`` header; see ``CaseMessage``. Additive changes keep ``v1``;
anything else gets ``v2``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CaseStatus = Literal["manual", "queued", "dispatched", "handled", "verified", "closed", "reopened"]
CallbackStatus = Literal["handled", "verified", "closed"]
MessageKind = Literal["case.created", "case.reopened"]
CASE_SCHEMA = "streetsight.case/v1"


class CaseEvidence(BaseModel):
    kind: str
    url: str = Field(description="presigned (expires) when the store signs URLs, else an API link")
    sha256: str
    size: int
    content_type: str


class CaseEvent(BaseModel):
    type: str = Field(examples=["illegal_parking"])
    national_code: str | None = Field(None, description="national category code (GB/T 30428.2 class)")
    local_code: str | None = None
    label_zh: str | None = None
    label_en: str | None = None
    category_zh: str | None = None
    category_en: str | None = None


class CaseLocation(BaseModel):
    source: str = Field(description="the camera")
    address: str | None = None
    lng: float | None = None
    lat: float | None = None
    grid: str | None = Field(None, description="grid code (网格)")
    area: str | None = None


class CaseOut(BaseModel):
    id: int
    number: str = Field(examples=["SS-20250501-000001"])
    incident_id: str
    status: CaseStatus
    department: str | None
    queue_reason: str | None = Field(description="why it waits in the manual-assignment queue")
    event: CaseEvent
    description: str
    location: CaseLocation
    occurred_at: datetime
    confidence: float
    reviewer: str | None
    evidence: list[CaseEvidence]
    dispatch_ref: str | None
    reopen_count: int
    recheck_due_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str = Field(min_length=1, max_length=128)
    note: str = Field("", max_length=4000)


class Reopen(BaseModel):
    count: int
    reason: str
    last_seen_at: datetime | None = None


class CaseMessage(BaseModel):
    """One POST to the dispatch system. The receiver keys on the ``Idempotency-Key`` header (equal to
    ``message_id``): a message may arrive more than once, it is the same message every time."""

    schema_: Literal["streetsight.case/v1"] = Field(CASE_SCHEMA, alias="schema")
    message_id: str = Field(description="equals the Idempotency-Key header")
    message: MessageKind
    case_number: str
    incident_id: str
    event: CaseEvent
    description: str
    department: str
    location: CaseLocation
    occurred_at: datetime
    confidence: float
    reviewer: str | None
    evidence: list[CaseEvidence]
    reopen: Reopen | None = Field(None, description="case.reopened only: the re-check found it still there")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class CallbackIn(BaseModel):
    """A status report from the dispatch system (signed: see ``api/callbacks.py``)."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128, description="unique per report; a repeat is ignored")
    case_number: str = Field(min_length=1, max_length=32)
    status: CallbackStatus
    at: datetime | None = Field(None, description="when it happened at the dispatch side")
    note: str = Field("", max_length=4000)
    handler: str | None = Field(None, max_length=128, description="who handled it (处置人)")
    dispatch_ref: str | None = Field(None, max_length=128, description="the dispatch system's own case id")


class CallbackOut(BaseModel):
    case: CaseOut
    duplicate: bool = Field(description="true when this event_id was applied before (nothing changed)")


def case_event(event_type: str, labels: dict[str, Any] | None) -> CaseEvent:
    """The event block from the incident's labels (``category``, ``local_code``, ``zh``, ``en``, ...)."""
    labels = labels or {}

    def pick(*keys: str) -> str | None:
        for key in keys:
            value = labels.get(key)
            if value not in (None, ""):
                return str(value)
        return None

    return CaseEvent(
        type=event_type,
        national_code=pick("national_code", "category", "code"),
        local_code=pick("local_code", "local"),
        label_zh=pick("zh", "label_zh", "name_zh"),
        label_en=pick("en", "label_en", "name_en"),
        category_zh=pick("category_zh"),
        category_en=pick("category_en"),
    )
