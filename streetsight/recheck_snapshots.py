"""The re-check's (核查) picture: at a handled case's deadline, the camera's latest frame of the spot, stored as
evidence of the incident and sent to dispatch with ``case.verified`` / ``case.reopened`` (issue 16).

It is the hook ``create_app(recheck_snapshot=...)`` takes. The frame comes from a `FrameView`: the pipeline's
in process, or what workers publish to Redis in the API role. No recent frame (the camera is down): no picture,
and the verdict stands without it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from api.frame_routes import FrameView
from api.repository import IncidentRepository
from api.schemas import EvidenceItemIn
from evidence.store import EvidenceStore, incident_key_prefix

log = logging.getLogger(__name__)

KIND = "recheck_snapshot"
MAX_AGE_S = 60.0  # a frame older than this at the deadline does not show the spot at the deadline


class RecheckSnapshots:
    """``(incident_id, source, deadline) -> evidence item | None`` for `api.cases.CaseService`."""

    def __init__(self, frames: FrameView, store: EvidenceStore, repository: IncidentRepository,
                 protect: Callable[[Iterable[str]], Any] | None = None, max_age_s: float = MAX_AGE_S) -> None:
        self.frames = frames
        self.store = store
        self.repository = repository
        self.protect = protect  # the case's evidence is kept past retention: this picture is part of it
        self.max_age_s = max_age_s

    def __call__(self, incident_id: str, source: str, at: datetime) -> dict[str, Any] | None:
        image = self.frames.snapshot(source, None)
        if image is None:
            log.warning("re-check of %s: camera %s has no frame; no picture of the spot", incident_id, source)
            return None
        taken = datetime.fromtimestamp(image.wall_time, timezone.utc)
        if taken < at - timedelta(seconds=self.max_age_s):
            log.warning("re-check of %s: the latest frame of %s is from %s, long before the deadline %s; "
                        "no picture of the spot", incident_id, source, taken.isoformat(), at.isoformat())
            return None
        key = f"{incident_key_prefix(source, incident_id, at)}/recheck-{at:%Y%m%dT%H%M%S}.jpg"
        stored = self.store.put_bytes(key, image.jpeg, "image/jpeg", {
            "incident_id": incident_id, "source_id": source, "kind": KIND,
            "deadline": at.isoformat(), "taken_at": taken.isoformat()})
        item = EvidenceItemIn(kind=KIND, key=stored.key, sha256=stored.sha256, size=stored.size,
                              content_type=stored.content_type)
        # the incident's evidence too: in its API record (evidence.recheck_snapshot) and on the review page
        self.repository.attach_evidence(incident_id, item)
        if self.protect is not None:
            self.protect([stored.key])
        log.info("re-check of %s: picture of %s taken %s stored as %s", incident_id, source, taken.isoformat(),
                 stored.key)
        return {**item.model_dump(), "taken_at": taken.isoformat()}


def recheck_snapshots(frames: FrameView, store: EvidenceStore, repository: IncidentRepository,
                      evidence: Any | None) -> RecheckSnapshots:
    """The hook as `serve` wires it; ``evidence`` (a `streetsight.evidence_backend.EvidenceBackend`, if any) protects
    the picture like the rest of the case's evidence."""
    return RecheckSnapshots(frames, store, repository, protect=evidence.protect if evidence is not None else None)
