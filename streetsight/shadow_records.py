"""How a candidate's (shadow) incident is recorded, in one place for both deployments: in process (`serve`, role
all: streetsight/shadow.py's ``ShadowIncidents``) and across the Redis bus (cluster workers tag the incident with
``ShadowTagger``; the API process records it with ``record_tagged`` when it applies the event).

Recorded with status ``shadow``, never ``pending``: never in the review queue, never a case. When no serving
incident overlaps it, a stable share (``review_share``) goes to the shadow review queue (``shadow_queue``); a
serving incident that arrives later and overlaps it takes it out again, its decision judging both.
"""
from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any

from api.model_compare import overlaps
from api.repository import IncidentRepository
from api.schemas import SHADOW_STATUSES, IncidentCreate, IncidentOut

WORKER_TAG = "shadow"  # extra.shadow on the bus: {"model", "review_share"} (the API adds twin and queued)


def sampled(incident_id: str, share: float) -> bool:
    """A stable draw (the same incident always gets the same answer)."""
    digest = hashlib.sha256(incident_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def record_shadow(repository: IncidentRepository, incident: IncidentCreate, model: str,
                  review_share: float) -> IncidentOut:
    probe = SimpleNamespace(source=incident.source, type=incident.type, started_at=incident.started_at,
                            box=incident.box)
    recent = repository.list(type=incident.type, source=incident.source, limit=200)
    twin = next((r for r in recent
                 if r.status not in SHADOW_STATUSES and overlaps(probe, r)), None)  # type: ignore[arg-type]
    queued = twin is None and sampled(incident.id, review_share)
    tag = {"model": model, "serving_twin": twin.id if twin else None, "queued": queued}
    tagged = incident.model_copy(update={"extra": {**(incident.extra or {}), WORKER_TAG: tag}})
    return repository.add(tagged, status="shadow_queue" if queued else "shadow")


def unqueue_twins(repository: IncidentRepository, incident: IncidentOut, model: str | None = None) -> None:
    """A serving incident was recorded: the shadow-queued ones it overlaps (of ``model``, or of any candidate)
    leave the shadow review queue, since its decision judges them."""
    if incident.status in SHADOW_STATUSES:
        return
    queued = repository.list(status="shadow_queue", type=incident.type, source=incident.source, limit=200)
    for mine in queued:
        if (model is None or mine.shadow_model == model) and overlaps(incident, mine):
            repository.unqueue_shadow(mine.id)


def follow_serving(repository: IncidentRepository) -> None:
    """Where candidates' incidents arrive over the bus (the API role): each serving incident recorded takes the
    shadow-queued ones it overlaps out of the shadow review queue."""
    repository.on_added(lambda incident: unqueue_twins(repository, incident))


def record_tagged(repository: IncidentRepository, incident: IncidentCreate) -> IncidentOut | None:
    """An incident from the bus: recorded as shadow when a worker's candidate found it (None: a serving one)."""
    tag = (incident.extra or {}).get(WORKER_TAG)
    if not isinstance(tag, dict) or not isinstance(tag.get("model"), str):
        return None
    share = tag.get("review_share")
    share = float(share) if isinstance(share, (int, float)) and 0 <= share <= 1 else 0.0
    return record_shadow(repository, incident, tag["model"], share)


class ShadowTagger:
    """A worker's record sink for its candidate's incidents: each is tagged with the model before it goes on the
    bus; evidence, ends and sightings pass as for any incident."""

    def __init__(self, sink: Any, model: str, review_share: float) -> None:
        self._sink = sink
        self.model = model
        self.review_share = review_share

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)

    def add(self, incident: IncidentCreate) -> None:
        tag = {"model": self.model, "review_share": self.review_share}
        self._sink.add(incident.model_copy(update={"extra": {**(incident.extra or {}), WORKER_TAG: tag}}))
