"""Crash recovery of `serve`: what an earlier run of this service left in the records is continued, not
opened twice.

At start, before any frame is analysed, each source gets from the records
- the incidents without an end (open at a clean stop, or left by a process that died): the rules adopt them
  (`DwellRule.adopt`) with the wall seconds since they were last seen, so the object still standing on the
  spot continues its incident and one that left ends ``interrupted``;
- the incidents whose end was recorded within a day, with the seconds since: their spots stay in cooldown
  for what is left of the rule's ``cooldown_s`` (`DwellRule.remember`), as they would have without the restart.
An unfinished incident without a clip lost it with the process (the packet ring lives in memory): the clip is
taken from the store if it was written (or spooled) but not recorded, else it is marked missing with the
reason, and the evidence manifest that was never written is written with what exists.
"""
from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from api.repository import IncidentRepository
from api.schemas import EvidenceItemIn, IncidentOut
from detectors.incidents import INTERRUPTED, Incident
from evidence.store import EvidenceStore, StoredObject, write_manifest
from streetsight.pipeline import SourceAnalysis

log = logging.getLogger(__name__)

CLIP_LOST = "process died before the post-roll"
RECENT_KEEP_S = 86400.0  # ended incidents read back for their cooldown: longer than any sensible cooldown


@dataclass
class CarriedOver:
    """What one source continues from an earlier run."""

    open: list[tuple[Incident, float]] = field(default_factory=list)  # (incident, wall s since last seen)
    recent: list[tuple[Incident, float]] = field(default_factory=list)  # (incident, wall s since it ended)


def incident_of(out: IncidentOut) -> Incident:
    """The rules' view of a stored incident (media times in its original clock). A moving camera's incident
    keeps where it was found: the merger joins the object's next track to it by place, since the tracker's ids
    did not survive the restart (without it the same parked van opened a second incident)."""
    extra = {"position": dict(out.position), "devices": [out.source]} if out.position else {}
    return Incident(
        type=out.type, source_id=out.source, zone_id=out.zone or "", track_id=out.track_id or 0,
        class_name=out.class_name, started_at=out.started_at, confirmed_at=out.confirmed_at,
        box=tuple(out.box), score=out.score, frame_size=tuple(out.frame_size),  # type: ignore[arg-type]
        zone_polygon=[list(p) for p in out.zone_polygon or []],
        last_seen_at=out.last_seen_at if out.last_seen_at is not None else out.confirmed_at,
        ended_at=out.ended_at, id=out.id, labels=dict(out.labels or {}), ended_reason=out.ended_reason,
        extra=extra,
    )


def carried_over(repository: IncidentRepository, source_id: str, keep_recent_s: float = RECENT_KEEP_S,
                 now: datetime | None = None) -> CarriedOver:
    now = now or datetime.now(timezone.utc)
    out = CarriedOver()
    for stored in repository.unfinished(source_id):
        if stored.footage_job is not None:  # an uploaded recording's: its job continues it (footage runner)
            continue
        seen_wall = stored.last_seen_wall or stored.detected_wall
        out.open.append((incident_of(stored), max(0.0, (now - seen_wall).total_seconds())))
    if keep_recent_s > 0:
        for stored in repository.ended_since(source_id, now - timedelta(seconds=keep_recent_s)):
            if stored.ended_wall is not None and stored.footage_job is None:
                out.recent.append((incident_of(stored), max(0.0, (now - stored.ended_wall).total_seconds())))
    return out


def recover_evidence(repository: IncidentRepository, store: EvidenceStore, incidents: list[Incident],
                     reason: str = CLIP_LOST) -> None:
    """For unfinished incidents whose evidence was never completed (no manifest): attach a clip the store
    holds under the incident's prefix (written or spooled before the crash, not recorded), else mark the
    clip missing with ``reason``; then write the manifest of what exists."""
    for inc in incidents:
        stored = repository.get(inc.id)
        if stored is None or "manifest" in stored.evidence or "snapshot" not in stored.evidence:
            continue
        snapshot = repository.evidence_item(inc.id, "snapshot")
        if snapshot is None:
            continue
        prefix = posixpath.dirname(snapshot.key)
        if "clip" not in stored.evidence and not _attach_stored_clip(repository, store, inc.id, prefix):
            repository.mark_evidence_missing(inc.id, "clip", reason)
            log.warning("incident %s: its clip was lost with the process (%s)", inc.id, reason)
        items = [item for kind in sorted(repository.get(inc.id).evidence)  # type: ignore[union-attr]
                 if (item := repository.evidence_item(inc.id, kind)) is not None]
        missing = (repository.get(inc.id).evidence_missing or {})  # type: ignore[union-attr]
        manifest = write_manifest(store, prefix, {
            "id": inc.id, "type": inc.type, "source": inc.source_id, "zone": inc.zone_id, "class": inc.class_name,
            "box": list(inc.box), "score": inc.score, "started_at": inc.started_at,
            "confirmed_at": inc.confirmed_at, "labels": inc.labels,
            **({"evidence_missing": missing} if missing else {}),
        }, [StoredObject(i.key, i.sha256, i.size, i.content_type) for i in items],
            {"source": inc.source_id, "event_type": inc.type, "incident": inc.id})
        repository.attach_evidence(inc.id, EvidenceItemIn(kind="manifest", key=manifest.key, sha256=manifest.sha256,
                                                          size=manifest.size, content_type=manifest.content_type))


def _attach_stored_clip(repository: IncidentRepository, store: EvidenceStore, incident_id: str, prefix: str) -> bool:
    key = f"{prefix}/clip.mp4"
    stat = getattr(store, "stat", None)
    try:
        if stat is None or not store.exists(key):
            return False
        obj = stat(key)
    except Exception:  # noqa: BLE001 - an unreadable store: the clip counts as missing
        log.exception("incident %s: could not look for a clip written before the restart", incident_id)
        return False
    repository.attach_evidence(incident_id, EvidenceItemIn(kind="clip", key=obj.key, sha256=obj.sha256,
                                                           size=obj.size, content_type=obj.content_type))
    log.info("incident %s: clip written before the restart recovered from the store", incident_id)
    return True


def resume(repository: IncidentRepository, store: EvidenceStore, analyses: Mapping[str, SourceAnalysis]) -> int:
    """Hand each source's rules what an earlier run left (see the module doc); returns how many open
    incidents are continued. One that no rule takes any more (its zone or rule is gone from the
    configuration) ends ``interrupted`` at its last sighting now, so none stays open forever."""
    continued = 0
    for source_id, analysis in analyses.items():
        carried = carried_over(repository, source_id)
        for incident, seen_ago_s in carried.open:
            if analysis.adopt(incident, seen_ago_s):
                continued += 1
            else:
                log.warning("source %s: no rule continues incident %s (%s, zone %s); ended as interrupted",
                            source_id, incident.id, incident.type, incident.zone_id)
                repository.mark_ended(incident.id, incident.last_seen_at, ended_reason=INTERRUPTED)
        for incident, ended_ago_s in carried.recent:
            analysis.remember(incident, ended_ago_s)
        recover_evidence(repository, store, [incident for incident, _ in carried.open])
        if carried.open:
            log.info("source %s: continuing %d incident(s) of the previous run", source_id, len(carried.open))
    return continued
