"""The footage job runner in process (issue 18): frames further from the track than ``track_max_gap_s`` are
counted unpositioned (never given a guessed position), and a job whose device was deleted meanwhile fails with
the reason."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from streetsight.footage.intake import FootageIntake
from tests.footage_helpers import KERB, runner_parts
from tests.media import encode_h264

START = datetime(2026, 11, 30, 1, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def parts(tmp_path: Path):
    sources = [{"id": "bodycam-1", "kind": "enforcement", "url": "rtsp://127.0.0.1:9/b", "analysis_fps": 2,
                "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}]}]
    with runner_parts(tmp_path, sources, track_max_gap_s=2) as p:
        yield p.jobs, p.runner.catalog, p.intake, p.runner


def submit(intake: FootageIntake, tmp_path: Path, job_id: str, track: str | None) -> None:
    video = encode_h264(intake.uploads_dir / f"{job_id}.mp4", seconds=10, fps=10, size=(320, 240), gop=10)
    track_id = intake.stage_track("track.csv", track.encode()).track_id if track else None
    intake.accept(video, job_id=job_id, filename="patrol.mp4", source_id="bodycam-1",
                  started_at=START.isoformat(), track_id=track_id, actor="dock-7")


def test_frames_far_from_the_track_are_unpositioned(parts, tmp_path):
    jobs, _, intake, runner = parts
    # the device reported its position for the first 3 s only
    track = "time,lng,lat\n" + "\n".join(f"{(START + timedelta(seconds=s)).isoformat()},120.0,30.0" for s in (0, 3))
    submit(intake, tmp_path, "job-1", track)
    runner.run_job(jobs.claim_next())
    job = jobs.get("job-1")
    assert job.status == "done" and job.frames_analysed == 20  # 10 s at analysis_fps 2
    # positioned: within 2 s of a point, i.e. up to 5 s; the 9 frames from 5.5 s on have no position
    assert job.unpositioned_frames == 9


def test_a_job_whose_device_was_deleted_fails_with_the_reason(parts, tmp_path):
    jobs, catalog, intake, runner = parts
    submit(intake, tmp_path, "job-2", None)
    catalog.delete("bodycam-1", actor="admin")
    runner.run_job(jobs.claim_next())
    job = jobs.get("job-2")
    assert job.status == "failed" and job.error == "source 'bodycam-1' no longer exists"
    assert job.unpositioned_frames == 0 and job.frames_analysed == 0
