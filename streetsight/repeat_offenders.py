"""Repeat offenders (issue 14, item 6): links a new incident to the earlier offences of the same object at the
same camera and place, from the records, when its appearance vectors are stored.

An earlier offence is a *confirmed* incident of the same camera and event type (as the reviewer typed it) that
was over before the new one was found: its object was seen gone, or its case was verified or closed (a case
closed as invalid is no offence). Rejected and suppressed incidents never count; a confirmed incident that is
still open at that place is the same violation, not a repeat. The history is stored with the incident
(``incidents.history``, `api.schemas.OffenceHistory`): the direct matches plus the offences those were repeats
of (so the third sighting lists both earlier ones even when the first looks less alike), oldest first.
Linking happens where the records are written, like the verifier (the recorder's embedding thread; the API
role's bus consumer in a cluster).
"""
from __future__ import annotations

import logging
from datetime import timedelta

from api.embeddings import ClosedOffence
from api.repository import IncidentRepository
from api.schemas import OffenceHistory, PreviousOffence
from streetsight.config import LearningConfig
from vision.repeats import RepeatParams, Sighting, repeats_of
from vision.verifier import normalised_box

log = logging.getLogger(__name__)


class RepeatOffenders:
    def __init__(self, repository: IncidentRepository, params: RepeatParams | None = None,
                 window: timedelta = timedelta(days=365)) -> None:
        self.repository = repository
        self.params = params or RepeatParams()
        self.window = window
        self.linked = 0

    def attach(self) -> "RepeatOffenders":
        self.repository.on_embedded(self.link)
        return self

    def link(self, incident_id: str) -> OffenceHistory | None:
        """Find and store the incident's history; None (and nothing stored) when it is a first offence."""
        record = self.repository.embedding(incident_id)
        if record is None:
            return None
        event_type = record.corrected_type or record.type
        earlier = self.repository.closed_offences(record.source, event_type, before=record.detected_wall,
                                                  since=record.detected_wall - self.window)
        by_id = {o.embedding.incident_id: o for o in earlier}
        sightings = [Sighting(o.embedding.incident_id, o.embedding.crop, _place(o)) for o in earlier
                     if o.embedding.model == record.model]  # vectors of different models never mix
        width, height = record.frame_size
        matches = repeats_of(record.crop, normalised_box(record.box, width, height), sightings, self.params)
        if not matches:
            return None
        history = history_of([(by_id[m.sighting.key], m.similarity) for m in matches])
        self.repository.set_history(incident_id, history.model_dump(mode="json"))
        self.linked += 1
        log.info("incident %s: repeat offence, %d earlier (%s)", incident_id, history.count,
                 ", ".join(p.case_number or p.incident_id for p in history.previous))
        return history


def _place(offence: ClosedOffence) -> tuple[float, float, float, float]:
    width, height = offence.embedding.frame_size
    return normalised_box(offence.embedding.box, width, height)


def history_of(matches: list[tuple[ClosedOffence, float]]) -> OffenceHistory:
    """The matched offences and the earlier ones they were repeats of, each once, oldest first."""
    previous: dict[str, PreviousOffence] = {}
    for offence, similarity in matches:
        for earlier in OffenceHistory.model_validate(offence.history).previous if offence.history else []:
            previous.setdefault(earlier.incident_id, earlier.model_copy(update={"similarity": None}))
        e = offence.embedding
        previous[e.incident_id] = PreviousOffence(
            incident_id=e.incident_id, case_number=offence.case_number, case_status=offence.case_status,
            detected_wall=e.detected_wall, ended_wall=offence.ended_wall, similarity=round(similarity, 4))
    ordered = sorted(previous.values(), key=lambda p: (p.detected_wall, p.incident_id))
    return OffenceHistory(count=len(ordered), first_wall=ordered[0].detected_wall, last_wall=ordered[-1].detected_wall,
                          previous=ordered)


def attach_repeat_offenders(repository: IncidentRepository, cfg: LearningConfig) -> RepeatOffenders | None:
    """The configured linking on ``repository`` (None when turned off)."""
    if not cfg.repeat_offenders:
        return None
    params = RepeatParams(min_similarity=cfg.repeat_min_similarity, place_iou=cfg.repeat_place_iou)
    return RepeatOffenders(repository, params, timedelta(days=cfg.repeat_window_days)).attach()
