"""What a rule reports: an incident opened (violation confirmed) or ended (the object left)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from detectors.timed_shots import TimedShot


INTERRUPTED = "interrupted"
"""``Incident.ended_reason`` of an incident continued after its process stopped (crash, restart, handover)
and not seen again: it ended at some wall time between its last sighting and the restart, nobody knows when."""


def new_incident_id() -> str:
    return "inc_" + uuid.uuid4().hex[:16]


@dataclass
class Incident:
    type: str
    source_id: str
    zone_id: str
    track_id: int
    class_name: str
    started_at: float  # media s: the object was first seen stationary in the zone
    confirmed_at: float  # media s: the dwell was reached and the incident opened
    box: tuple[float, float, float, float]  # pixels at confirmation
    score: float  # median detection score over the track while it dwelt
    frame_size: tuple[int, int]  # (width, height)
    zone_polygon: list[list[float]]  # normalised, for overlays
    last_seen_at: float = 0.0
    ended_at: float | None = None
    id: str = field(default_factory=new_incident_id)
    labels: dict = field(default_factory=dict)  # taxonomy: category, local_code, zh, en
    extra: dict = field(default_factory=dict)  # e.g. position and devices for moving cameras
    ended_reason: str | None = None  # None: the object left while watched; else e.g. INTERRUPTED


@dataclass
class IncidentEvent:
    kind: Literal["opened", "ended"]
    incident: Incident  # an "ended" incident says why in ``ended_reason`` when not because its spot emptied
    shots: list["TimedShot"] = field(default_factory=list)  # "opened" by a dwell: timed snapshots, oldest first
