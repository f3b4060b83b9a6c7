"""What a rule is judging right now: its candidates and how far each is from becoming an incident.

The zone editor's preview shows these over the live frame, so an operator sees what the rule will judge
(a car standing 40 s of a 60 s dwell) before it becomes an incident.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Candidate:
    event_type: str
    zone_id: str
    track_id: int
    class_name: str
    box: tuple[float, float, float, float]  # pixels of the analysed frame, last seen
    score: float  # median detection score so far
    progress: float  # seconds stood still (dwell) or hits in the window (sightings)
    needed: float  # what opens an incident: min_dwell_s, or confirm_hits
    unit: Literal["s", "hits"]
    incident_id: str | None = None  # already an open incident

    def as_dict(self, width: int, height: int) -> dict:
        """JSON-ready, the box normalised to 0..1 of the frame."""
        x1, y1, x2, y2 = self.box
        return {"event_type": self.event_type, "zone_id": self.zone_id, "track_id": self.track_id,
                "class_name": self.class_name,
                "box": [round(x1 / width, 4), round(y1 / height, 4), round(x2 / width, 4), round(y2 / height, 4)],
                "score": round(self.score, 3), "progress": round(self.progress, 2), "needed": self.needed,
                "unit": self.unit, "incident_id": self.incident_id}
