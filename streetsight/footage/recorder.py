"""The recorder of one footage job: incidents carry the job, their wall time (the recording's start + media
time), and a re-run of frames after a restart does not record an incident twice."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from api.repository import IncidentRepository
from detectors.incidents import Incident, IncidentEvent
from evidence.store import EvidenceStore
from streams.packets import PacketRing
from streetsight.config import EvidenceConfig
from streetsight.recorder import IncidentRecorder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownIncident:
    """An incident this job recorded before a restart (media seconds)."""

    id: str
    type: str
    zone: str
    started_at: float
    last_seen_at: float


class JobRecorder(IncidentRecorder):
    """``known``: the job's incidents already in the records. A finding of the same type in the same zone
    confirmed while such an incident was still seen (within ``same_within_s`` of its last sighting) is that
    incident continued: it keeps its id and is not recorded again."""

    def __init__(self, store: EvidenceStore, repository: IncidentRepository, cfg: EvidenceConfig, *, job_id: str,
                 started_at: datetime, known: list[KnownIncident], same_within_s: float) -> None:
        super().__init__(store, repository, cfg, wall_clock=lambda media_s: started_at + timedelta(seconds=media_s))
        self.job_id = job_id
        self.started_at = started_at
        self.known = list(known)
        self.same_within_s = same_within_s
        self.opened = {k.id for k in known}
        self._live: dict[str, Incident] = {}  # opened (or continued) in this run: their sightings go on
        # called with a new incident known, before it is recorded: a checkpoint kept outside the records (a
        # worker's) then knows it even if the process dies right after
        self.on_new: Callable[[], None] | None = None
        self._ended: set[str] = set()

    def handle(self, event: IncidentEvent, image: np.ndarray, ring: PacketRing | None) -> None:
        inc = event.incident
        if event.kind == "ended":
            self._ended.add(inc.id)
        if event.kind == "opened":
            wall = self.started_at + timedelta(seconds=inc.confirmed_at)
            inc.extra["footage"] = {"job": self.job_id, "media_s": round(inc.confirmed_at, 3),
                                    "wall_time": wall.isoformat()}
            same = self._known_as(inc)
            if same is not None:
                log.info("footage job %s: %s at %.1fs is incident %s of the run before the restart",
                         self.job_id, inc.type, inc.confirmed_at, same.id)
                inc.id = same.id
                self._live[inc.id] = inc
                return
            self.opened.add(inc.id)
            self._live[inc.id] = inc
            if self.on_new is not None:
                self.on_new()
        super().handle(event, image, ring)

    def incidents_now(self) -> list[KnownIncident]:
        """The job's incidents so far (of runs before and this one), for a checkpoint kept outside the records."""
        out = {k.id: k for k in self.known}
        for inc in self._live.values():
            before = out.get(inc.id)
            out[inc.id] = KnownIncident(inc.id, inc.type, inc.zone_id, before.started_at if before else inc.started_at,
                                        max(inc.last_seen_at, inc.confirmed_at))
        return list(out.values())

    def open_now(self) -> list[Incident]:
        """This run's incidents not ended yet (a worker taking the job over continues them)."""
        return [inc for inc in self._live.values() if inc.id not in self._ended]

    def _known_as(self, inc: Incident) -> KnownIncident | None:
        for k in self.known:
            if k.type == inc.type and k.zone == inc.zone_id and \
                    k.started_at - self.same_within_s <= inc.confirmed_at <= k.last_seen_at + self.same_within_s:
                return k
        return None
