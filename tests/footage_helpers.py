"""Shared by the footage tests (issue 18): a `serve` process with an enforcement device, a GPX patrol, the CLI."""
from __future__ import annotations

import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import gpxpy.gpx
import httpx

from tests.cluster_procs import ServeProcess, write_config

KERB = [[0.82, 0.05], [0.97, 0.05], [0.97, 0.20], [0.82, 0.20]]  # where the van in vtest stands
STARTED_AT = datetime(2026, 11, 30, 1, 0, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai


def footage_config(path: Path, data_dir: Path, port: int, fps: float = 2, **footage: Any) -> Path:
    return write_config(path, {
        "sources": [
            # the body camera streams when it is on patrol; docked, it is unreachable (its footage comes by upload)
            {"id": "bodycam-1", "kind": "enforcement", "url": "rtsp://127.0.0.1:9/bodycam-1", "analysis_fps": fps,
             "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}]},
            {"id": "street-cam", "url": "rtsp://127.0.0.1:9/street", "enabled": False,
             "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}]},
        ],
        "model": {"threads": 1},
        "streams": {"open_timeout_s": 2, "read_timeout_s": 2, "backoff_initial_s": 1, "backoff_max_s": 30},
        "storage": {"data_dir": str(data_dir), "retention_days": {"default": 30, "footage": 7}},
        "api": {"port": port},
        "footage": {"reserve_free_mb": 1, "checkpoint_every_s": 3, **footage},
    })


def patrol_gpx(path: Path, start: datetime = STARTED_AT, seconds: int = 120, step_s: int = 5) -> list[tuple]:
    """A walk north-east from 10 s before ``start``: (unix s, lat, lng) of each point, written as GPX."""
    gpx = gpxpy.gpx.GPX()
    track = gpxpy.gpx.GPXTrack()
    gpx.tracks.append(track)
    segment = gpxpy.gpx.GPXTrackSegment()
    track.segments.append(segment)
    points = []
    for k in range(seconds // step_s):
        when = start + timedelta(seconds=-10 + step_s * k)
        lat, lng = 30.0 + k * 0.00002, 120.0 + k * 0.00001  # ~2 m per point: a slow walk along the street
        segment.points.append(gpxpy.gpx.GPXTrackPoint(lat, lng, time=when))
        points.append((when.timestamp(), lat, lng))
    path.write_text(gpx.to_xml())
    return points


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Service:
    """A logged-in admin client of a `serve` process."""

    def __init__(self, proc: ServeProcess, port: int, token: str) -> None:
        self.proc, self.port, self.token = proc, port, token
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {token}"})

    def job(self, job_id: str) -> dict:
        r = self.http.get(f"/api/v1/footage/{job_id}")
        r.raise_for_status()
        return r.json()

    def job_incidents(self, job_id: str) -> list[dict]:
        r = self.http.get("/api/v1/incidents", params={"limit": 500, "source": "bodycam-1"})
        r.raise_for_status()
        return [i for i in r.json() if i.get("footage_job") == job_id]

    def wait_job(self, job_id: str, statuses: tuple[str, ...] = ("done", "failed"), timeout_s: float = 600,
                 until=None) -> dict:
        """Poll until the job reaches one of ``statuses`` (or ``until(job)``); a generous bound, not a goal."""
        deadline = time.monotonic() + timeout_s
        job: dict = {}
        while time.monotonic() < deadline:
            assert self.proc.alive, self.proc.log_tail()
            job = self.job(job_id)
            if job["status"] in statuses or (until is not None and until(job)):
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} still {job.get('status')} at {job.get('done_s')} s\n"
                             f"{self.proc.log_tail()}")


def login_token(port: int, password: str, username: str = "admin", timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login",
                           json={"username": username, "password": password}, timeout=5)
            if r.status_code == 200:
                return r.json()["access_token"]
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("serve did not answer")
        time.sleep(0.5)


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@dataclass
class RunnerParts:
    """A footage runner in this process over SQLite records and a local evidence store, as `serve --role all`
    wires it (no HTTP): submit with ``intake``, run with ``runner.run_job(jobs.claim_next())``."""
    jobs: Any
    intake: Any
    runner: Any
    repository: Any
    reports: Any


@contextmanager
def runner_parts(tmp_path: Path, sources: list[dict], **footage: Any) -> Iterator[RunnerParts]:
    from api.db import create_engine_for, init_db, make_session_factory
    from api.footage_jobs import FootageJobs
    from api.position_reports import PositionReports
    from api.repository import IncidentRepository
    from evidence.store import LocalEvidenceStore
    from streetsight.config import parse_config
    from streetsight.footage.intake import FootageIntake
    from streetsight.footage.runner import FootageRunner
    from streetsight.runtime import load_detector
    from streetsight.source_records import open_source_catalog

    engine = create_engine_for(f"sqlite:///{tmp_path / 'records.db'}")
    init_db(engine)
    sessions = make_session_factory(engine)
    cfg = parse_config({"sources": sources, "model": {"threads": 1}, "storage": {"data_dir": str(tmp_path)},
                        "footage": {"reserve_free_mb": 0, **footage}})
    jobs, catalog = FootageJobs(sessions), open_source_catalog(cfg, sessions)
    store = LocalEvidenceStore(tmp_path / "evidence")
    repository, reports = IncidentRepository(sessions), PositionReports(sessions)
    runner = FootageRunner(cfg, jobs, catalog, repository, store, load_detector(cfg), positions=reports)
    try:
        yield RunnerParts(jobs, FootageIntake(jobs, catalog, store, cfg.footage, str(tmp_path)), runner, repository,
                          reports)
    finally:
        engine.dispose()
