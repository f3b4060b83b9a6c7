"""Positions of footage uploaded without a track (issue 18): an NMEA stream embedded in the MP4 (a timed-text
track muxed with PyAV, as GPS recorders write it), else the device's live position reports, kept in the records
when they were POSTed. Frames with no position near them in either stay unpositioned, never guessed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from api.db import create_engine_for, init_db, make_session_factory
from api.footage_jobs import FootageJobs
from api.migrate import alembic_config, upgrade
from api.position_reports import PositionReports
from streams.positions import NotAMovingSource, PositionBoard
from streetsight.footage.embedded import embedded_track
from streetsight.footage.intake import FootageIntake
from streetsight.footage.runner import FootageRunner
from tests.footage_helpers import KERB, runner_parts
from tests.media import encode_h264
from tests.nmea_video import with_nmea_track

START = datetime(2026, 11, 30, 1, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def parts(tmp_path: Path):
    sources = [{"id": "bodycam-1", "kind": "enforcement", "url": "rtsp://127.0.0.1:9/b", "analysis_fps": 2,
                "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}]},
               {"id": "street-cam", "url": "rtsp://127.0.0.1:9/s"}]
    with runner_parts(tmp_path, sources, track_max_gap_s=2) as p:
        yield p.jobs, p.intake, p.runner, p.reports


def fixes(seconds: range) -> list[tuple[float, datetime, float, float]]:
    return [(s, START + timedelta(seconds=s), 120.0 + s * 1e-5, 30.0 + s * 2e-5) for s in seconds]


def run(jobs: FootageJobs, intake: FootageIntake, runner: FootageRunner, video: Path, job_id: str):
    intake.accept(video, job_id=job_id, filename="patrol.mp4", source_id="bodycam-1",
                  started_at=START.isoformat(), track_id=None, actor="dock-7")
    runner.run_job(jobs.claim_next())
    return jobs.get(job_id)


def test_the_nmea_stream_embedded_in_the_mp4_is_read_and_a_corrupt_sentence_skipped(tmp_path):
    video = encode_h264(tmp_path / "plain.mp4", seconds=6, fps=10, gop=10)
    muxed = with_nmea_track(video, tmp_path / "gps.mp4", fixes(range(0, 5)), garbage_at=2.5)
    points = embedded_track(muxed)
    assert [(p.time - START.timestamp(), round(p.lng, 6), round(p.lat, 6)) for p in points] == \
        [(s, round(120.0 + s * 1e-5, 6), round(30.0 + s * 2e-5, 6)) for s in range(0, 5)]
    assert embedded_track(video) is None  # no timed-text track: nothing embedded


def test_a_job_without_a_track_file_takes_the_embedded_track(parts, tmp_path):
    jobs, intake, runner, reports = parts
    # a live report of the same minute exists too: the file's own track wins
    reports.record("bodycam-1", 121.0, 31.0, START.timestamp() + 1)
    video = encode_h264(intake.uploads_dir / "plain.mp4", seconds=10, fps=10, size=(320, 240), gop=10)
    muxed = with_nmea_track(video, intake.uploads_dir / "gps.mp4", fixes(range(0, 4)))
    job = run(jobs, intake, runner, muxed, "job-embedded")
    assert job.status == "done" and job.frames_analysed == 20  # 10 s at analysis_fps 2
    assert (job.track_from, job.track_points) == ("embedded", 4)
    # fixes at 0..3 s, max gap 2 s: frames up to 5 s have a position, the 9 from 5.5 s on do not
    assert job.unpositioned_frames == 9


def test_without_track_or_embedded_stream_the_live_reports_of_that_time_are_used(parts, tmp_path):
    jobs, intake, runner, reports = parts
    board = PositionBoard(moving=["bodycam-1"], fixed=["street-cam"])
    sink = reports.persisting(board.report)
    for s in (4, 6, 8):  # reported while on patrol, live
        sink("bodycam-1", 120.0 + s * 1e-5, 30.0, START.timestamp() + s)
    sink("bodycam-1", 125.0, 35.0, START.timestamp() + 3600)  # an hour later: not this recording's
    with pytest.raises(NotAMovingSource):  # refused by the live board, so not kept either
        sink("street-cam", 120.0, 30.0, START.timestamp() + 5)
    assert [r[0] - START.timestamp() for r in reports.between("bodycam-1", 0, 2e9)] == [4, 6, 8, 3600]
    assert reports.between("street-cam", 0, 2e9) == []

    video = encode_h264(intake.uploads_dir / "plain.mp4", seconds=10, fps=10, size=(320, 240), gop=10)
    job = run(jobs, intake, runner, video, "job-live")
    assert job.status == "done" and (job.track_from, job.track_points) == ("live reports", 3)
    # reports at 4..8 s, max gap 2 s: frames at 2..10 s are positioned (17), 0, 0.5, 1, 1.5 s are not
    assert job.unpositioned_frames == 4


def test_with_no_position_anywhere_every_frame_is_unpositioned(parts, tmp_path):
    jobs, intake, runner, reports = parts
    reports.record("bodycam-1", 121.0, 31.0, START.timestamp() - 600)  # ten minutes before: too far
    video = encode_h264(intake.uploads_dir / "plain.mp4", seconds=10, fps=10, size=(320, 240), gop=10)
    job = run(jobs, intake, runner, video, "job-none")
    assert job.status == "done" and job.track_from is None and job.track_points == 0
    assert job.unpositioned_frames == job.frames_analysed == 20


def test_0013_keeps_position_reports_and_the_track_origin_and_goes_back(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        upgrade(engine, "0012")
        upgrade(engine, "0013")
        assert "position_reports" in inspect(engine).get_table_names()
        assert "track_from" in {c["name"] for c in inspect(engine).get_columns("footage_jobs")}
        with engine.begin() as c:
            c.execute(text("INSERT INTO position_reports (source, time, lng, lat, received_at) "
                           "VALUES ('bodycam-1', 1.5, 120.0, 30.0, '2026-12-02')"))
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.commit()
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            command.downgrade(alembic_config(conn), "0012")
            conn.commit()
        assert "position_reports" not in inspect(engine).get_table_names()
        assert "track_from" not in {c["name"] for c in inspect(engine).get_columns("footage_jobs")}
        upgrade(engine)
        assert "position_reports" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_reports_older_than_the_kept_days_are_dropped_as_new_ones_come(tmp_path):
    import time

    engine = create_engine_for(f"sqlite:///{tmp_path / 'r.db'}")
    init_db(engine)
    try:
        reports = PositionReports(make_session_factory(engine), keep_days=7)
        reports._purge_at = float("inf")  # no purge while the old ones go in
        now = time.time()
        for days in (40, 8, 6):
            reports.record("bodycam-1", 120.0, 30.0, now - days * 86400)
        reports._purge_at = 0.0
        reports.record("bodycam-1", 120.0, 30.0, now)
        assert [round((now - t) / 86400) for t, _, _ in reports.between("bodycam-1", 0, 2e10)] == [6, 0]
    finally:
        engine.dispose()
