"""JSON of cases: the API's case records, manual assignment, and the dispatch contract (versioned).

The dispatch contract (``streetsight.case/v1``) is what the dispatch system receives, one POST per
message with an ``Idempotency-Key`` header; see ``CaseMessage``. Additive changes keep ``v1``;
anything else gets ``v2``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .schemas import OffenceHistory, ShopOut

CaseStatus = Literal["manual", "queued", "dispatched", "accepted", "handled", "verified", "closed", "reopened"]
CallbackStatus = Literal["accepted", "handled", "returned", "verified", "closed"]
MessageKind = Literal["case.created", "case.reassigned", "case.reminder", "case.overdue", "case.verified",
                      "case.reopened"]
Stage = Literal["filed", "dispatched", "accepted", "handled", "checked", "closed", "returned", "reopened"]
CASE_SCHEMA = "streetsight.case/v1"


class CaseEvidence(BaseModel):
    kind: str
    url: str = Field(description="presigned (expires) when the store signs URLs, else an API link")
    sha256: str
    size: int
    content_type: str


class RecheckEvidence(CaseEvidence):
    taken_at: datetime | None = Field(
        None, description="when the camera took the picture: the re-check runs every recheck_poll_s once the "
                          "deadline has passed (later after a downtime), so it can be after the deadline")


class CaseVehicle(BaseModel):
    """The vehicle of a parking case (非现场执法): the plate read and the close-up. ``plate_uncertain``: a person
    must check the plate against the close-up before a notice is issued."""

    plate: str | None = None
    plate_confidence: float | None = None
    plate_valid: bool | None = None
    plate_uncertain: bool | None = None
    crop: CaseEvidence | None = None


class CaseShop(ShopOut):
    """The shop responsible for the frontage of a shop-front case (门前三包): named by the zone, or read from its
    sign (``uncertain``: a person must check the name against the snapshot)."""


class CaseSnapshot(BaseModel):
    """One of the timed pictures that prove the object stayed (first sighting .. confirmation)."""

    at: float = Field(description="media time (s) of the picture")
    taken_at: datetime | None = Field(None, description="wall time of the picture")
    snapshot: CaseEvidence


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


class StageOut(BaseModel):
    stage: Stage
    at: datetime
    round: int = Field(description="which delivery to a department (1, 2, ...); 0 before the first")
    department: str | None
    detail: dict[str, Any] | None = None


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
    time_limit_h: float | None = Field(None, description="the department's time limit of the current round")
    deadline_at: datetime | None = Field(None, description="when the current round's time limit runs out")
    overdue: bool = Field(False, description="past its deadline and not handled yet")
    closed_reason: str | None = Field(None, description="closed as invalid: why")
    timeline: list[StageOut] = Field(default_factory=list, description="every stage with its time, oldest first")
    history: OffenceHistory | None = Field(
        None, description="a repeat offence: the earlier, closed offences of the same object at the same camera "
                          "and place, as the incident and the dispatch message carry it; null for a first offence")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department: str = Field(min_length=1, max_length=128)
    note: str = Field("", max_length=4000)


class InvalidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class Reminder(BaseModel):
    """case.reminder / case.overdue: what the department is reminded of (催办 / 超期报警)."""

    reason: Literal["not_accepted", "deadline_near", "overdue"]
    round: int
    dispatched_at: datetime
    deadline_at: datetime
    accept_due_at: datetime | None = None


class Recheck(BaseModel):
    """case.verified / case.reopened: the camera's re-check (核查) with its evidence."""

    verdict: Literal["verified", "reopened"]
    reason: str
    deadline: datetime = Field(description="the re-check looked at the spot at this time")
    last_seen_at: datetime | None = None
    ended_at: datetime | None = None
    evidence: list[RecheckEvidence] = Field(default_factory=list, description="e.g. a snapshot at the deadline")


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
    time_limit_h: float | None = Field(None, description="hours the department has (处理时限)")
    reminder: Reminder | None = Field(None, description="case.reminder / case.overdue only")
    recheck: Recheck | None = Field(None, description="case.verified / case.reopened: the re-check and its evidence")
    previous_department: str | None = Field(None, description="case.reassigned: the department that returned it")
    history: OffenceHistory | None = Field(
        None, description="a repeat offence: the earlier, closed offences of the same object at the same camera "
                          "and place (count, incidents, case numbers, when); null for a first offence")
    vehicle: CaseVehicle | None = Field(None, description="motor-vehicle cases: plate read and close-up")
    snapshots: list[CaseSnapshot] = Field(default_factory=list, description="timed pictures of the dwell")
    shop: CaseShop | None = Field(None, description="shop-front cases: the shop responsible (门前三包)")

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
    reason: str | None = Field(None, max_length=500, description="returned: why (e.g. not our department)")

    @model_validator(mode="after")
    def _return_has_reason(self) -> "CallbackIn":
        if self.status == "returned" and not (self.reason or "").strip():
            raise ValueError("reason: a returned case needs a reason")
        return self


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
