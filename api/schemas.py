"""Request and response models: the JSON contract of the incidents API.

Note ``class_name`` is ``"class"`` in JSON (a Python keyword). The models serialise by alias by
default (pydantic >= 2.11), so ``model_dump()`` / ``model_dump_json()`` already say ``"class"``.
"""
from __future__ import annotations

import base64
import binascii
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# shadow: a candidate model's would-be incident (models compare); shadow_queue: one of them sampled for review
Status = Literal["pending", "confirmed", "rejected", "suppressed", "shadow", "shadow_queue"]
SHADOW_STATUSES = ("shadow", "shadow_queue")
"""``suppressed``: matched a rejected decision at the same camera and place; kept out of the review queue."""
Decision = Literal["confirm", "reject"]

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # URL-safe: ids appear in paths
KIND_PATTERN = r"^[a-z0-9_]{1,32}$"
CODE_PATTERN = r"^[a-z0-9_]{1,64}$"
REJECT_REASONS = ("false_detection", "not_a_violation", "permitted", "duplicate", "poor_evidence", "other")
"""Suggested reject reason codes; any code matching CODE_PATTERN is accepted."""


class _Model(BaseModel):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)


class EmbeddingIn(_Model):
    """Appearance vectors of an incident, computed once when it opened: its object crop and its context
    ring (the surroundings, object greyed). Each vector is ``dim`` float16 little-endian values, base64."""

    model: str = Field(min_length=1, max_length=128, description="the embedding model, name@version")
    dim: int = Field(gt=0, le=4096)
    crop: str = Field(description="base64 of dim float16 (little-endian): the object's box")
    ring: str | None = Field(None, description="base64 of dim float16 (little-endian): the box's surroundings")

    @model_validator(mode="after")
    def _sizes(self) -> "EmbeddingIn":
        for name in ("crop", "ring"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"field '{name}' is not base64") from None
            if len(raw) != 2 * self.dim:
                raise ValueError(f"field '{name}' holds {len(raw)} bytes; dim {self.dim} needs {2 * self.dim}")
        return self


class IncidentCreate(_Model):
    """What the pipeline hands over when a violation is confirmed by its rule."""

    id: str = Field(pattern=ID_PATTERN, description='given by the caller, e.g. "inc_" + 16 hex')
    type: str = Field(min_length=1, max_length=64, examples=["illegal_parking"])
    source: str = Field(min_length=1, max_length=128)
    zone: str | None = None
    started_at: float = Field(description="media time (s) the violation started")
    confirmed_at: float = Field(description="media time (s) the rule confirmed it")
    ended_at: float | None = None
    detected_wall: datetime | None = Field(None, description="UTC wall time recorded; now if omitted")
    class_name: str = Field(alias="class", min_length=1, max_length=64)
    box: tuple[float, float, float, float] = Field(description="[x1, y1, x2, y2] in pixels")
    score: float = Field(ge=0.0, le=1.0)
    track_id: int | None = None
    frame_size: tuple[int, int] = Field(description="[width, height] in pixels")
    zone_polygon: list[tuple[float, float]] | None = Field(None, description="normalised [[x, y], ...]")
    labels: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None
    embedding: EmbeddingIn | None = Field(None, description="appearance vectors for learning from reviews")


class EvidenceItemIn(_Model):
    kind: str = Field(pattern=KIND_PATTERN, examples=["snapshot", "snapshot_raw", "clip", "manifest"])
    key: str = Field(min_length=1, max_length=512, description="path relative to the evidence store root")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    content_type: str = Field(min_length=1, max_length=128, examples=["image/jpeg", "video/mp4"])

    @field_validator("key")
    @classmethod
    def _relative_key(cls, v: str) -> str:
        p = PurePosixPath(v)
        if p.is_absolute() or "\\" in v or ".." in p.parts or (p.parts and ":" in p.parts[0]):
            raise ValueError("key must be a relative path inside the evidence store, without '..'")
        return v


class EvidenceOut(_Model):
    url: str
    sha256: str
    size: int
    content_type: str


class ReviewOut(_Model):
    decision: Decision
    note: str
    reviewer: str | None
    reviewed_at: datetime
    reason: str | None = Field(None, description="reject reason code")
    corrected_type: str | None = Field(None, description="the event type the reviewer set, when it differs")


class PreviousOffence(_Model):
    """An earlier incident of the same object at the same camera and place, confirmed and over."""

    incident_id: str
    case_number: str | None = Field(None, description="its case, when one was made")
    case_status: str | None = None
    detected_wall: datetime = Field(description="when it was found")
    ended_wall: datetime | None = Field(None, description="when it was seen gone")
    similarity: float | None = Field(None, description="cosine of the crop embeddings; null when linked through "
                                                       "another previous offence's history")


class OffenceHistory(_Model):
    """A repeat offence: the same object (appearance and place) was reported, confirmed and closed before."""

    count: int = Field(ge=1, description="how many earlier offences")
    first_wall: datetime = Field(description="when the earliest was found")
    last_wall: datetime = Field(description="when the latest was found")
    previous: list[PreviousOffence] = Field(description="oldest first")
class VehicleOut(_Model):
    """The vehicle of a motor-vehicle incident: its close-up and licence plate read (``plate`` may be null when no
    plate-shaped text was found). An uncertain read (below the confidence threshold, or fitting no plate format)
    is shown for a person to check, never dropped."""

    plate: str | None = None
    plate_confidence: float | None = None
    plate_valid: bool | None = Field(None, description="the read fits a Chinese plate format")
    plate_uncertain: bool | None = Field(None, description="low confidence or no valid format: check by eye")
    crop: str | None = Field(None, description="URL of the close-up (evidence kind vehicle_crop)")


class TimedSnapshotOut(_Model):
    at: float = Field(description="media time (s) of the picture")
    taken_at: datetime | None = Field(None, description="wall time (UTC) of the picture")
    snapshot: str = Field(description="URL of the picture (evidence kind snapshot_N)")


class ShopOut(_Model):
    """The shop responsible for the frontage of a shop-front incident (门前三包): named by the zone, or read from its
    sign (``uncertain``: a person must check the name against the snapshot)."""

    name: str | None = None
    source: str = Field(description='"zone": configured for the zone; "sign": read from the shop sign')
    confidence: float | None = None
    uncertain: bool | None = None


def shop_from_extra(extra: dict[str, Any] | None) -> ShopOut | None:
    """The shop an incident's ``extra.shop`` carries (where the rules and the sign reader put it), typed."""
    shop = (extra or {}).get("shop")
    if not isinstance(shop, dict) or not shop.get("source"):
        return None
    return ShopOut(name=shop.get("name"), source=str(shop["source"]), confidence=shop.get("confidence"),
                   uncertain=shop.get("uncertain"))


def vehicle_from_extra(incident_id: str, extra: dict[str, Any] | None) -> VehicleOut | None:
    v = (extra or {}).get("vehicle")
    if not isinstance(v, dict):
        return None
    return VehicleOut(plate=v.get("plate"), plate_confidence=v.get("plate_confidence"),
                      plate_valid=v.get("plate_valid"), plate_uncertain=v.get("plate_uncertain"),
                      crop=evidence_url(incident_id, "vehicle_crop") if v.get("crop") else None)


def snapshots_from_extra(incident_id: str, extra: dict[str, Any] | None) -> list[TimedSnapshotOut]:
    shots = (extra or {}).get("snapshots")
    return [TimedSnapshotOut(at=s["at"], taken_at=s.get("taken_at"), snapshot=evidence_url(incident_id, s["kind"]))
            for s in shots or [] if isinstance(s, dict) and "at" in s and "kind" in s]


class IncidentOut(_Model):
    id: str
    type: str
    source: str
    zone: str | None
    status: Status
    started_at: float
    confirmed_at: float
    ended_at: float | None
    ended_reason: str | None = Field(
        None, description="why it ended: null when the object left while watched; zone_removed, source_removed, "
                          "source_disabled when an operator changed the camera; 'interrupted' when it left "
                          "while the service was down, some time between last_seen_wall and ended_wall (the re-check "
                          "judges it only when its deadline lies outside that span)")
    last_seen_at: float | None = Field(None, description="media s of the last sighting the pipeline recorded")
    last_seen_wall: datetime | None = None
    ended_wall: datetime | None = Field(None, description="when the end was recorded")
    class_name: str = Field(alias="class")
    box: tuple[float, float, float, float]
    score: float
    track_id: int | None
    frame_size: tuple[int, int]
    zone_polygon: list[tuple[float, float]] | None
    detected_wall: datetime
    evidence: dict[str, EvidenceOut] = Field(default_factory=dict, description="by kind")
    evidence_missing: dict[str, str] | None = Field(
        None, description="evidence that does not exist, by kind, with the reason (e.g. the clip of a crash)")
    review: ReviewOut | None = None
    suppressed_by: str | None = Field(
        None, description="the reviewed incident whose rejection this one matched (same camera, place and "
                          "appearance); set while suppressed, and kept after an un-suppress for the record")
    priority: float = Field(0.0, description="queue rank: > 0 when it looks like a confirmed incident at this place")
    history: OffenceHistory | None = Field(
        None, description="a repeat offence: the earlier, closed offences of the same object at this place")
    labels: dict[str, Any] | None = Field(
        None, description="event taxonomy of the type: national and local codes, zh / en labels"
    )
    shadow_model: str | None = Field(
        None, description="shadow incidents: the candidate model that found it (never dispatched)")
    position: dict[str, float] | None = Field(
        None, description="moving cameras: where the device was when it confirmed the finding (lng, lat, and "
                          "timestamp: unix s); null for fixed cameras and unpositioned frames")
    footage_job: str | None = Field(None, description="the uploaded footage's analysis job that found it, if any")
    vehicle: VehicleOut | None = Field(None, description="motor vehicles: close-up and licence plate read")
    snapshots: list[TimedSnapshotOut] = Field(
        default_factory=list, description="dwell incidents: timed pictures from first sighting to confirmation")
    shop: ShopOut | None = Field(None, description="shop-front incidents: the shop responsible (门前三包)")


class ReviewIn(_Model):
    model_config = ConfigDict(extra="forbid")

    decision: Decision
    note: str = Field("", max_length=4000)
    reason: str | None = Field(None, pattern=CODE_PATTERN, description=f"reject reason code, e.g. {REJECT_REASONS}")
    corrected_type: str | None = Field(
        None, pattern=CODE_PATTERN, description="confirm as this event type instead of the detected one"
    )

    @model_validator(mode="after")
    def _fits_decision(self) -> "ReviewIn":
        if self.reason is not None and self.decision != "reject":
            raise ValueError("reason: only a rejection takes a reason")
        if self.corrected_type is not None and self.decision != "confirm":
            raise ValueError("corrected_type: only a confirmation can correct the type")
        return self


class ReviewBatchIn(ReviewIn):
    ids: list[str] = Field(min_length=1, max_length=500)

    @field_validator("ids")
    @classmethod
    def _id_pattern(cls, v: list[str]) -> list[str]:
        import re

        bad = [i for i in v if not re.fullmatch(ID_PATTERN, i)]
        if bad:
            raise ValueError(f"not incident ids: {bad[:5]}")
        return list(dict.fromkeys(v))  # a repeated id is reviewed once


class ReviewBatchItemOut(_Model):
    id: str
    status_code: int = Field(description="200 reviewed (or the same decision again), 404 unknown, 409 reviewed otherwise")
    detail: str | None = None
    incident: IncidentOut | None = None


class ReviewBatchOut(_Model):
    results: list[ReviewBatchItemOut]


def evidence_url(incident_id: str, kind: str) -> str:
    return f"/api/v1/incidents/{incident_id}/evidence/{kind}"
