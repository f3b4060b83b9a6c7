"""The interface every rule offers the pipeline, and the two cores that judge candidates over time."""
from __future__ import annotations

import copy
from typing import Protocol, Union

import supervision as sv

from detectors.context import FrameContext
from detectors.dwell import DwellRule
from detectors.incidents import Incident, IncidentEvent
from detectors.progress import Candidate
from detectors.sighting import SightingRule
from vision.zones import Zone

Core = Union[DwellRule, SightingRule]
"""Fixed cameras judge by dwell (`DwellRule`), moving ones by k-of-n sightings (`SightingRule`)."""


class Rule(Protocol):
    event_type: str
    zones: list[Zone]
    needs_image: bool  # the rule looks at pixels (FrameContext.image)

    @property
    def open_incidents(self) -> list[Incident]: ...

    def observe(self, frame: FrameContext, detections: sv.Detections) -> list[IncidentEvent]:
        """One analysed frame with its tracked detections (``tracker_id``, ``data["class_name"]``)."""

    def finish(self) -> list[IncidentEvent]:
        """The source ended: close what is open."""

    def in_progress(self) -> list[Candidate]:
        """What it judges now, with the dwell (or hits) so far: the zone editor's preview."""

    def adopt(self, incident: Incident, seen_ago_s: float = 0.0) -> bool:
        """Continue an incident an earlier owner of this camera opened (another worker, or this service before
        a restart), last seen ``seen_ago_s`` wall seconds ago (True when it is this rule's)."""

    # optional: ``remember(incident, ended_ago_s) -> bool``, an incident another worker ended on this camera
    # (rules with a cooldown keep its spot cooling down; see `DwellRule.remember`)


class CandidateRule:
    """Base of rules that turn a frame into candidates of their own and hand them to a core."""

    needs_image = False

    def __init__(self, core: Core) -> None:
        self.core = core
        self.event_type = core.event_type
        self.zones = core.zones
        # facts of a zone that its incidents carry in ``extra`` (e.g. the shop a shop-front zone names)
        self.zone_extra: dict[str, dict] = {}

    @property
    def open_incidents(self) -> list[Incident]:
        return self.core.open_incidents

    def candidates(self, frame: FrameContext, detections: sv.Detections) -> sv.Detections:
        raise NotImplementedError

    def observe(self, frame: FrameContext, detections: sv.Detections) -> list[IncidentEvent]:
        events = self.core.observe(frame, self.candidates(frame, detections))
        for event in events:
            if event.kind == "opened" and event.incident.zone_id in self.zone_extra:
                event.incident.extra.update(copy.deepcopy(self.zone_extra[event.incident.zone_id]))
        return events

    def finish(self) -> list[IncidentEvent]:
        return self.core.finish()

    def in_progress(self) -> list[Candidate]:
        return self.core.in_progress()

    def adopt(self, incident: Incident, seen_ago_s: float = 0.0) -> bool:
        adopt = getattr(self.core, "adopt", None)
        return bool(adopt and adopt(incident, seen_ago_s))

    def remember(self, incident: Incident, ended_ago_s: float) -> bool:
        remember = getattr(self.core, "remember", None)  # moving cameras merge by place instead
        return bool(remember and remember(incident, ended_ago_s))
