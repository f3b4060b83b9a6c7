"""A generated month of a city's incidents, reviews and cases for the statistics: every outcome the figures
distinguish (pending, confirmed, confirmed as another type, rejected with and without a reason, suppressed by the
verifier, a candidate model's shadow incidents that must not count), cases in every status and department (or
none), closed once, twice (reopened) or not yet, cameras with and without an area. Seeded: the same set each run.

Used by the SQL-vs-Python equivalence test and by ``streetsight bench stats``.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from api.db import CaseRecord, CaseStageRecord, IncidentRecord
from api.settings import SourceInfo

TYPES = ("illegal_parking", "street_vending", "non_motor_parking", "overflowing_bin", "debris_spill")
REASONS = ("false_detection", "not_a_violation", "outside_zone", "not_stationary", None, "")
CASE_STATUSES = ("manual", "queued", "dispatched", "accepted", "handled", "verified", "closed", "reopened")
DEPARTMENTS = ("城管一队", "城管二队", "环卫所", "市场监管", None, "")
AREAS = ("west", "east", "north", "south", "centre")
# share of each incident status; "corrected" is confirmed as another type
STATUS_WEIGHTS = {"pending": 20, "confirmed": 40, "corrected": 5, "rejected": 20, "suppressed": 8, "shadow": 4,
                  "shadow_queue": 3}


@dataclass(frozen=True)
class StatsDataSet:
    incidents: int
    cases: int
    stages: int
    places: dict[str, SourceInfo]


def camera_places(cameras: int, without_area_every: int = 10) -> dict[str, SourceInfo]:
    """Cameras ``cam-0000``…: each in an area, except every ``without_area_every``-th, which has no record."""
    return {f"cam-{k:04d}": SourceInfo(area=AREAS[k % len(AREAS)], grid=f"G{k % 40:02d}")
            for k in range(cameras) if k % without_area_every}


def generate_stats_data(sessions: Callable[[], Session], n: int, start: datetime, days: float, cameras: int = 350,
                        seed: int = 13, chunk: int = 5000, id_prefix: str = "inc_s",
                        first_case_id: int = 1) -> StatsDataSet:
    """``n`` incidents detected in [start, start + days) with their reviews, cases and case stages, inserted in
    chunks. Times carry microseconds (the medians must agree to the microsecond)."""
    rng = random.Random(seed)
    statuses, weights = zip(*STATUS_WEIGHTS.items())
    incidents: list[dict[str, Any]] = []
    cases: list[dict[str, Any]] = []
    stages: list[dict[str, Any]] = []
    totals = [0, 0, 0]

    def flush() -> None:
        with sessions() as s:
            for table, rows in ((IncidentRecord, incidents), (CaseRecord, cases), (CaseStageRecord, stages)):
                if rows:
                    s.execute(insert(table), rows)
            s.commit()
        for k, rows in enumerate((incidents, cases, stages)):
            totals[k] += len(rows)
            rows.clear()

    for k in range(n):
        at = start + timedelta(microseconds=rng.randrange(int(days * 86400e6)))
        type_ = rng.choice(TYPES)
        status = rng.choices(statuses, weights)[0]
        corrected_type = None
        if status == "corrected":
            status, corrected_type = "confirmed", rng.choice([t for t in TYPES if t != type_])
        elif status == "confirmed" and rng.random() < 0.1:
            corrected_type = rng.choice((type_, ""))  # set to the same type, or blank: not a correction
        reviewed = status in ("confirmed", "rejected") or (status == "pending" and rng.random() < 0.05)  # undone
        incidents.append({
            "id": f"{id_prefix}{k:012x}", "type": type_, "source": f"cam-{rng.randrange(cameras):04d}", "zone": "kerb",
            "status": status, "started_at": 1.0, "confirmed_at": 31.0, "ended_at": 90.0, "detected_wall": at,
            "class_name": "car", "box": [1, 1, 9, 9], "score": 0.7, "frame_size": [640, 360],
            "decision": {"confirmed": "confirm", "rejected": "reject"}.get(status),
            "reviewer": "bench" if reviewed else None,
            "reviewed_at": at + timedelta(microseconds=rng.randrange(5_000_000, 7_200_000_000)) if reviewed else None,
            "reject_reason": rng.choice(REASONS) if status == "rejected" else None,
            "corrected_type": corrected_type, "priority": 0.0})
        if status == "confirmed" and rng.random() < 0.6:
            case_id = first_case_id + totals[1] + len(cases)
            created = at + timedelta(microseconds=rng.randrange(60_000_000, 3_600_000_000))
            case_status = rng.choice(CASE_STATUSES)
            cases.append({
                "id": case_id, "number": f"SS-{case_id:012d}", "incident_id": incidents[-1]["id"],
                "status": case_status, "type": corrected_type or type_, "department": rng.choice(DEPARTMENTS),
                "description": "generated", "source": incidents[-1]["source"], "occurred_at": at,
                "confidence": 0.7, "evidence": [], "created_at": created, "updated_at": created})
            stages.append({"case_id": case_id, "stage": "filed", "at": created, "round": 0})
            if case_status in ("verified", "closed", "reopened"):  # closed at least once; reopened: twice
                closed = created + timedelta(microseconds=rng.randrange(600_000_000, 3 * 86_400_000_000))
                for _ in range(2 if case_status == "reopened" else 1):
                    stages.append({"case_id": case_id, "stage": "closed", "at": closed, "round": 0})
                    closed += timedelta(hours=rng.uniform(1, 48))
        if len(incidents) >= chunk:
            flush()
    flush()
    return StatsDataSet(incidents=totals[0], cases=totals[1], stages=totals[2], places=camera_places(cameras))
