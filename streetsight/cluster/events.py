"""Incident records as bus events: what a worker hands over and how the API side applies it.

A ``RecordSink`` is whatever takes the recorder's three calls: the ``IncidentRepository`` itself (role
``all``: the in-process bus) or an ``EventPublisher`` (role ``worker``: Redis Streams). On the API side
``apply_event`` replays an event on the repository; it is idempotent, because the bus delivers at least once.
"""
from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from api.repository import IncidentNotFound
from api.schemas import ID_PATTERN, EvidenceItemIn, IncidentCreate

EventKind = Literal["incident_opened", "evidence_attached", "incident_ended"]
EVENT_KINDS: tuple[str, ...] = ("incident_opened", "evidence_attached", "incident_ended")
FORMAT_VERSION = "1"
_ID = re.compile(ID_PATTERN)
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


class RecordSink(Protocol):
    """The recorder's view of the records (return values are not used)."""

    def add(self, incident: IncidentCreate) -> Any: ...

    def attach_evidence(self, incident_id: str, item: EvidenceItemIn) -> Any: ...

    def mark_ended(self, incident_id: str, ended_at: float, reason: str | None = None) -> Any: ...


class BadEvent(ValueError):
    """A stream entry that is not a valid event (it is dead-lettered, never retried)."""


class IncidentNotYetKnown(LookupError):
    """Evidence or an end for an incident that is not stored yet: retry later."""


@dataclass(frozen=True)
class BusEvent:
    kind: EventKind
    incident_id: str
    payload: dict[str, Any]
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    worker: str = ""
    created: float = field(default_factory=time.time)  # unix time of the recorder's call

    # -- constructors for the three record calls --------------------------------------------------

    @classmethod
    def opened(cls, incident: IncidentCreate, worker: str) -> "BusEvent":
        return cls("incident_opened", incident.id, incident.model_dump(mode="json"), worker=worker)

    @classmethod
    def evidence(cls, incident_id: str, item: EvidenceItemIn, worker: str) -> "BusEvent":
        return cls("evidence_attached", incident_id, item.model_dump(mode="json"), worker=worker)

    @classmethod
    def ended(cls, incident_id: str, ended_at: float, worker: str, reason: str | None = None) -> "BusEvent":
        payload: dict[str, Any] = {"ended_at": float(ended_at)}
        if reason is not None:
            payload["reason"] = reason
        return cls("incident_ended", incident_id, payload, worker=worker)

    # -- wire format: flat string fields of one stream entry --------------------------------------

    def encode(self) -> dict[str, str]:
        return {
            "v": FORMAT_VERSION,
            "kind": self.kind,
            "incident_id": self.incident_id,
            "event_id": self.event_id,
            "worker": self.worker,
            "created": repr(float(self.created)),
            "payload": json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False),
        }

    @classmethod
    def decode(cls, fields: Mapping[Any, Any] | None) -> "BusEvent":
        """The event of a stream entry's fields (str or bytes); ``BadEvent`` if they are not one."""
        if not fields:
            raise BadEvent("empty entry")
        try:
            f = {_text(k): _text(v) for k, v in fields.items()}
        except UnicodeDecodeError as e:
            raise BadEvent(f"not UTF-8: {e}") from None
        missing = [k for k in ("v", "kind", "incident_id", "event_id", "created", "payload") if k not in f]
        if missing:
            raise BadEvent(f"missing field(s) {', '.join(missing)}")
        if f["v"] != FORMAT_VERSION:
            raise BadEvent(f"unknown format version {f['v']!r}")
        if f["kind"] not in EVENT_KINDS:
            raise BadEvent(f"unknown kind {f['kind']!r}")
        if not _ID.match(f["incident_id"]):
            raise BadEvent(f"bad incident_id {f['incident_id'][:80]!r}")
        if not _HEX32.match(f["event_id"]):
            raise BadEvent(f"bad event_id {f['event_id'][:80]!r}")
        try:
            created = float(f["created"])
        except ValueError:
            raise BadEvent(f"bad created {f['created'][:40]!r}") from None
        if not math.isfinite(created):
            raise BadEvent(f"bad created {f['created']!r}")
        try:
            payload = json.loads(f["payload"])
        except ValueError as e:
            raise BadEvent(f"payload is not JSON: {e}") from None
        if not isinstance(payload, dict):
            raise BadEvent("payload is not a JSON object")
        return cls(f["kind"], f["incident_id"], payload, event_id=f["event_id"],  # type: ignore[arg-type]
                   worker=f.get("worker", ""), created=created)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


def apply_event(repository: Any, event: BusEvent) -> None:
    """Store ``event`` in ``repository`` (an ``IncidentRepository``); applying it again changes nothing.

    Raises ``IncidentNotYetKnown`` when the event refers to an incident not stored yet, ``BadEvent`` when
    its payload does not validate; anything else comes from the repository (e.g. the database is down).
    """
    try:
        if event.kind == "incident_opened":
            incident = IncidentCreate.model_validate(event.payload)
            if incident.id != event.incident_id:
                raise BadEvent(f"payload id {incident.id!r} differs from incident_id {event.incident_id!r}")
            repository.add(incident)  # idempotent by id
        elif event.kind == "evidence_attached":
            item = EvidenceItemIn.model_validate(event.payload)
            # Skip a repeat: the upsert would change nothing but would notify the listeners again.
            lookup = getattr(repository, "evidence_item", None)
            if lookup is not None and lookup(event.incident_id, item.kind) == item:
                return
            repository.attach_evidence(event.incident_id, item)
        elif event.kind == "incident_ended":
            ended_at = event.payload.get("ended_at")
            if isinstance(ended_at, bool) or not isinstance(ended_at, (int, float)) or not math.isfinite(ended_at):
                raise BadEvent(f"bad ended_at {ended_at!r}")
            get = getattr(repository, "get", None)
            stored = get(event.incident_id) if get is not None else None
            if stored is not None and stored.ended_at == float(ended_at):
                return  # a repeat: keep the first call's ended_wall
            reason = event.payload.get("reason")
            if reason is None:
                repository.mark_ended(event.incident_id, float(ended_at))
            elif isinstance(reason, str) and 0 < len(reason) <= 64:
                repository.mark_ended(event.incident_id, float(ended_at), reason=reason)
            else:
                raise BadEvent(f"bad end reason {reason!r}")
        else:
            raise BadEvent(f"unknown kind {event.kind!r}")
    except ValidationError as e:
        raise BadEvent(f"{event.kind} payload: {_short(e)}") from None
    except IncidentNotFound:
        raise IncidentNotYetKnown(event.incident_id) from None


def _short(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()[:5])
