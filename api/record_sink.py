"""What records incidents, as the recorder sees it: ``RecordSink``. The ``IncidentRepository`` is one (role
``all``: straight into the database); the cluster's ``EventPublisher`` is another (role ``worker``: events
to Redis that the API role replays on its repository). The recorder depends on this protocol only."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .schemas import EmbeddingIn, EvidenceItemIn, IncidentCreate


@runtime_checkable
class RecordSink(Protocol):
    """The recorder's calls on the records (return values are not used). A call for an incident that is
    not stored (yet) may raise ``LookupError``; the caller tries again later."""

    def add(self, incident: IncidentCreate) -> Any: ...

    def attach_evidence(self, incident_id: str, item: EvidenceItemIn) -> Any: ...

    def mark_ended(self, incident_id: str, ended_at: float, ended_reason: str | None = None) -> Any: ...

    def mark_seen(self, incident_id: str, media_time: float) -> Any:
        """An open incident is still seen (every few seconds): re-checks and restarts rely on it."""

    def mark_evidence_missing(self, incident_id: str, kind: str, reason: str) -> Any:
        """Evidence that will never come (lost with a process that died)."""

    def attach_embedding(self, incident_id: str, embedding: EmbeddingIn) -> Any: ...
