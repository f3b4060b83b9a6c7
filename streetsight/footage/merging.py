"""Which recorded findings a footage job's own findings merge with.

Footage is analysed hours after it was recorded. The live merger (`detectors.geo.GeoMerger`) holds a finding only
while live frames keep arriving within ``merge_window_s`` of it, so by the time a device docks, the live
sightings of the same place and time are gone from it, and the same parked van would be recorded twice: once
live, once from the recording. A job therefore gets a merger of its own, seeded from the records: every stored
incident with a position whose sightings overlap the recording's wall time (live ones of any device, and other
jobs' footage), except the job's own (a resumed job continues those itself).

In a cluster the API process, which has the records, attaches them to the job it publishes for the workers
(`streetsight/cluster/footage.py`), as it does the device's live position reports.

Invariant: a seeded incident is matched at its place (where it was found) and time (its first to last sighting);
a footage finding that joins it opens nothing, so it is recorded once.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from api.footage_jobs import FootageJobOut
from api.repository import IncidentRepository
from api.schemas import IncidentOut
from detectors.geo import GeoMerger
from streetsight.config import EVENT_TYPES, Config
from streetsight.recovery import incident_of

LOOK_BACK = timedelta(days=1)  # a finding detected this long before the recording may still be seen during it
MAX_SEEDED = 5000


def merge_window_s(cfg: Config) -> float:
    """The widest ``merge_window_s`` of the event types: how far from the recording a sighting may merge."""
    return max(cfg.rules.for_type(t).merge_window_s for t in EVENT_TYPES)


def last_seen_wall(out: IncidentOut) -> datetime:
    """The wall time of its latest sighting. A footage incident's ``last_seen_wall`` is when the job analysed
    it (hours later): its recording's time is the detection's plus the media time since."""
    if out.footage_job is not None:
        media_s = (out.last_seen_at if out.last_seen_at is not None else out.confirmed_at) - out.confirmed_at
        return out.detected_wall + timedelta(seconds=max(0.0, media_s))
    return out.last_seen_wall or out.detected_wall


def recorded_near(repository: IncidentRepository, job: FootageJobOut, window_s: float) -> list[IncidentOut]:
    """Stored incidents with a position, seen within ``window_s`` of the recording's wall time, not the job's."""
    start, end = job_span(job, window_s)
    found = repository.list(since=start - LOOK_BACK, until=end, limit=MAX_SEEDED)
    return [out for out in found if out.position and out.footage_job != job.id and last_seen_wall(out) >= start]


def job_span(job: FootageJobOut, window_s: float) -> tuple[datetime, datetime]:
    """The recording's wall time, widened by ``window_s`` on each side."""
    return (job.started_at - timedelta(seconds=window_s),
            job.started_at + timedelta(seconds=job.duration_s + window_s))


def seeded_merger(incidents: list[IncidentOut], window_s: float, span: tuple[datetime, datetime]) -> GeoMerger:
    """A merger holding each incident at where it was found, at every time from its first to its last sighting
    within ``span`` (a finding matches within ``window_s`` of a held time, so one is held every ``window_s / 2``)."""
    merger = GeoMerger()
    step = max(window_s / 2, 1.0)
    lo, hi = span[0].timestamp(), span[1].timestamp()
    for out in incidents:
        position = dict(out.position or {})
        first = max(float(position.get("timestamp", out.detected_wall.timestamp())), lo)
        last = min(max(first, last_seen_wall(out).timestamp()), hi)
        if last < first:
            continue
        incident = incident_of(out)
        held = [first + k * step for k in range(int((last - first) // step) + 1)]
        for t in held if held[-1] == last else [*held, last]:
            merger.add(incident, {**position, "timestamp": t})
    return merger
