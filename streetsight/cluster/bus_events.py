"""Incident records as bus events: what a worker hands over and how the API side applies it.

A ``RecordSink`` (api/record_sink.py) is whatever takes the recorder's calls: the ``IncidentRepository`` itself (role
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
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from api.repository import IncidentNotFound
from api.schemas import ID_PATTERN, EmbeddingIn, EvidenceItemIn, IncidentCreate
from streetsight.cluster.connection import redis_text

EventKind = Literal["incident_opened", "evidence_attached", "incident_ended", "incident_seen", "evidence_missing",
                   "embedding_attached"]
EVENT_KINDS: tuple[str, ...] = ("incident_opened", "evidence_attached", "incident_ended", "incident_seen",
                                "evidence_missing", "embedding_attached")
_REASON = re.compile(r"^[a-z_]{1,32}$")
FORMAT_VERSION = "1"
_ID = re.compile(ID_PATTERN)
_HEX32 = re.compile(r"^[0-9a-f]{32}$")


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

    # -- constructors for the record calls -------------------------------------------------------------

    @classmethod
    def opened(cls, incident: IncidentCreate, worker: str) -> "BusEvent":
        return cls("incident_opened", incident.id, incident.model_dump(mode="json"), worker=worker)

    @classmethod
    def evidence(cls, incident_id: str, item: EvidenceItemIn, worker: str) -> "BusEvent":
        return cls("evidence_attached", incident_id, item.model_dump(mode="json"), worker=worker)

    @classmethod
    def embedding(cls, incident_id: str, embedding: EmbeddingIn, worker: str) -> "BusEvent":
        return cls("embedding_attached", incident_id, embedding.model_dump(mode="json"), worker=worker)

    @classmethod
    def ended(cls, incident_id: str, ended_at: float, worker: str, ended_reason: str | None = None) -> "BusEvent":
        payload: dict[str, Any] = {"ended_at": float(ended_at)}
        if ended_reason is not None:
            payload["ended_reason"] = ended_reason
        return cls("incident_ended", incident_id, payload, worker=worker)

    @classmethod
    def seen(cls, incident_id: str, media_time: float, worker: str) -> "BusEvent":
        return cls("incident_seen", incident_id, {"media_time": float(media_time)}, worker=worker)

    @classmethod
    def missing(cls, incident_id: str, kind: str, reason: str, worker: str) -> "BusEvent":
        return cls("evidence_missing", incident_id, {"kind": kind, "reason": reason}, worker=worker)

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
            f = {redis_text(k): redis_text(v) for k, v in fields.items()}
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
            # a worker's candidate model in shadow mode: recorded as shadow, never queued for review
            from streetsight.shadow_records import record_tagged

            if record_tagged(repository, incident) is None:
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
            reason = event.payload.get("ended_reason")
            if reason is not None and not (isinstance(reason, str) and _REASON.match(reason)):
                raise BadEvent(f"bad ended_reason {str(reason)[:40]!r}")
            get = getattr(repository, "get", None)
            stored = get(event.incident_id) if get is not None else None
            if stored is not None and stored.ended_at == float(ended_at) and stored.ended_reason == reason:
                return  # a repeat: keep the first call's ended_wall
            repository.mark_ended(event.incident_id, float(ended_at), ended_reason=reason)
        elif event.kind == "incident_seen":
            # a late or repeated sighting only moves last_seen forward in the wall clock: harmless
            media_time = event.payload.get("media_time")
            if isinstance(media_time, bool) or not isinstance(media_time, (int, float)) \
                    or not math.isfinite(media_time):
                raise BadEvent(f"bad media_time {media_time!r}")
            get = getattr(repository, "get", None)
            stored = get(event.incident_id) if get is not None else None
            if stored is not None and stored.ended_at is not None:
                return  # ended meanwhile: a sighting applied late must not look like a fresh one
            repository.mark_seen(event.incident_id, float(media_time),
                                 datetime.fromtimestamp(event.created, timezone.utc))
        elif event.kind == "evidence_missing":
            kind, reason = event.payload.get("kind"), event.payload.get("reason")
            if not isinstance(kind, str) or not _REASON.match(kind) or not isinstance(reason, str) or len(reason) > 200:
                raise BadEvent("evidence_missing needs a kind and a reason")
            repository.mark_evidence_missing(event.incident_id, kind, reason)  # no-op if it exists
        elif event.kind == "embedding_attached":
            repository.attach_embedding(event.incident_id, EmbeddingIn.model_validate(event.payload))
        else:
            raise BadEvent(f"unknown kind {event.kind!r}")
    except ValidationError as e:
        raise BadEvent(f"{event.kind} payload: {_short(e)}") from None
    except IncidentNotFound:
        raise IncidentNotYetKnown(event.incident_id) from None


def _short(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()[:5])
