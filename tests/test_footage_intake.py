"""A full disk (issue 18): an upload that does not fit is refused before any byte is written, and one that fills
the disk while it is being stored (a real tmpfs that runs out of space) is refused with 413 and leaves nothing:
no partial file in the store, no job."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from api.db import create_engine_for, init_db, make_session_factory
from api.footage_jobs import FootageJobs, FootageRejected
from evidence.store import LocalEvidenceStore
from streetsight.config import parse_config
from streetsight.footage.intake import FootageIntake
from streetsight.footage.settings import FootageConfig
from streetsight.source_records import open_source_catalog
from tests.footage_helpers import KERB
from tests.media import encode_h264
from tests.real_parts import missing_real_part


def noise(index: int, t: float) -> np.ndarray:
    return np.random.default_rng(index).integers(0, 255, (480, 640, 3), dtype=np.uint8)


@pytest.fixture
def records(tmp_path: Path):
    engine = create_engine_for(f"sqlite:///{tmp_path / 'records.db'}")
    init_db(engine)
    sessions = make_session_factory(engine)
    cfg = parse_config({"sources": [{"id": "bodycam-1", "kind": "enforcement", "url": "rtsp://127.0.0.1:9/b",
                                     "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}]}]})
    yield FootageJobs(sessions), open_source_catalog(cfg, sessions)
    engine.dispose()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MiB filesystem of its own (tmpfs): writes past it fail with ENOSPC."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        missing_real_part(f"a tmpfs to fill (mount -t tmpfs needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_an_upload_larger_than_the_free_disk_is_refused_before_it_starts(records, small_disk, tmp_path):
    jobs, catalog = records
    intake = FootageIntake(jobs, catalog, LocalEvidenceStore(tmp_path / "evidence"),
                           FootageConfig(uploads_dir=str(small_disk), reserve_free_mb=0.5), str(tmp_path))
    with pytest.raises(FootageRejected) as refused:  # staged and stored: twice its size, with the reserve
        intake.check("bodycam-1", "2026-11-30T09:00:00+08:00", None, 2 * 1024 * 1024)
    assert refused.value.status == 413 and refused.value.loc == ("header", "Upload-Length")
    assert "not enough disk space" in refused.value.message
    intake.check("bodycam-1", "2026-11-30T09:00:00+08:00", None, 1024 * 1024)  # a smaller one fits


def test_a_disk_that_fills_while_storing_refuses_the_upload_and_keeps_nothing(records, small_disk, tmp_path):
    jobs, catalog = records
    store = LocalEvidenceStore(small_disk)
    intake = FootageIntake(jobs, catalog, store, FootageConfig(reserve_free_mb=0), str(tmp_path))
    video = encode_h264(intake.uploads_dir / "upload-1.mp4", seconds=8, fps=25, size=(640, 480), gop=25,
                        frame_fn=noise)  # noise does not compress: more than the 4 MiB disk
    assert video.stat().st_size > 4 * 1024 * 1024
    with pytest.raises(FootageRejected) as refused:
        intake.accept(video, job_id="upload-1", filename="patrol.mp4", source_id="bodycam-1",
                      started_at="2026-11-30T09:00:00+08:00", track_id=None, actor="dock-7")
    assert refused.value.status == 413 and "the disk is full" in refused.value.message
    assert [p for p in small_disk.rglob("*") if p.is_file()] == []  # no half-written copy
    assert jobs.list() == [] and jobs.get("upload-1") is None


def test_uploads_and_tracks_left_unfinished_expire(records, tmp_path):
    import os
    import time

    jobs, catalog = records
    intake = FootageIntake(jobs, catalog, LocalEvidenceStore(tmp_path / "evidence"),
                           FootageConfig(upload_expiry_days=2), str(tmp_path))
    old = time.time() - 3 * 86400
    stale = [intake.uploads_dir / "abc", intake.uploads_dir / "abc.info", intake.tracks_dir / "trk_0a.gpx"]
    fresh = [intake.uploads_dir / "def", intake.uploads_dir / "def.info", intake.tracks_dir / "trk_0b.gpx"]
    for p in stale + fresh:
        p.write_bytes(b"x")
    for p in stale:
        os.utime(p, (old, old))
    intake.check("bodycam-1", None, None, 1024)
    assert [p.exists() for p in stale] == [False] * 3 and all(p.exists() for p in fresh)


def _with_creation_time(src: Path, dst: Path, creation_time: str | None) -> Path:
    """``src`` remuxed as a body camera writes its MP4: the recording's start in the container (``mvhd``)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        if creation_time is not None:
            out.metadata["creation_time"] = creation_time
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


@pytest.mark.parametrize("creation_time, expected", [
    ("2026-11-30T01:00:00.000000Z", "2026-11-30T01:00:00+00:00"),
    ("1970-01-01T00:00:00.000000Z", None),  # a device that never set its clock: not a time
    (None, None),  # no creation time at all
])
def test_without_started_at_the_recordings_own_creation_time_is_its_start(records, tmp_path, creation_time,
                                                                            expected):
    jobs, catalog = records
    intake = FootageIntake(jobs, catalog, LocalEvidenceStore(tmp_path / "evidence"), FootageConfig(), str(tmp_path))
    plain = encode_h264(tmp_path / "plain.mp4", seconds=2, fps=10, size=(320, 240), gop=10)
    video = _with_creation_time(plain, intake.uploads_dir / "upload-1", creation_time)
    if expected is None:
        with pytest.raises(FootageRejected) as refused:
            intake.accept(video, job_id="upload-1", filename="patrol.mp4", source_id="bodycam-1", started_at=None,
                          track_id=None, actor="dock-7")
        assert refused.value.loc == ("metadata", "started_at") and refused.value.status == 422
        assert "records no creation time" in refused.value.message
        assert jobs.list() == []
        return
    job = intake.accept(video, job_id="upload-1", filename="patrol.mp4", source_id="bodycam-1", started_at=None,
                        track_id=None, actor="dock-7")
    assert (job.started_at.isoformat(), job.started_at_from) == (expected, "container creation_time")


def test_a_started_at_sent_with_the_upload_wins_over_the_containers_creation_time(records, tmp_path):
    jobs, catalog = records
    intake = FootageIntake(jobs, catalog, LocalEvidenceStore(tmp_path / "evidence"), FootageConfig(), str(tmp_path))
    plain = encode_h264(tmp_path / "plain.mp4", seconds=2, fps=10, size=(320, 240), gop=10)
    video = _with_creation_time(plain, intake.uploads_dir / "upload-1", "2026-11-30T01:00:00.000000Z")
    job = intake.accept(video, job_id="upload-1", filename="patrol.mp4", source_id="bodycam-1",
                        started_at="2026-11-30T09:30:00+08:00", track_id=None, actor="dock-7")
    assert (job.started_at.isoformat(), job.started_at_from) == ("2026-11-30T01:30:00+00:00", "upload")


def test_stored_footage_expires_under_its_own_retention_and_incident_evidence_under_its_types(records, tmp_path):
    """``storage.retention_days.footage`` governs the uploaded recording and its track, apart from the incidents'
    evidence: the recording goes after its days, an incident's snapshot of the same day stays under its type's."""
    from datetime import datetime, timedelta, timezone

    from evidence.retention import RetentionPolicy, sweep
    from evidence.store import incident_key_prefix

    jobs, catalog = records
    store = LocalEvidenceStore(tmp_path / "evidence")
    intake = FootageIntake(jobs, catalog, store, FootageConfig(), str(tmp_path))
    plain = encode_h264(tmp_path / "plain.mp4", seconds=2, fps=10, size=(320, 240), gop=10)
    video = _with_creation_time(plain, intake.uploads_dir / "upload-1", "2026-11-30T01:00:00.000000Z")
    job = intake.accept(video, job_id="upload-1", filename="patrol.mp4", source_id="bodycam-1", started_at=None,
                        track_id=None, actor="dock-7")
    now = datetime.now(timezone.utc)
    snapshot = store.put_bytes(f"{incident_key_prefix('bodycam-1', 'inc_1', now)}/snapshot.jpg", b"jpeg", "image/jpeg",
                               {"source": "bodycam-1", "event_type": "illegal_parking", "incident": "inc_1"}).key
    footage_keys = {e.key for e in store.list_objects()} - {snapshot}
    assert footage_keys and all(store.metadata(k)["footage_job"] == job.id for k in footage_keys)
    policy = RetentionPolicy.from_days({"footage": 7, "illegal_parking": 90})

    assert sweep(store, policy, now=now + timedelta(days=6)).deleted == []  # younger than 7 days
    report = sweep(store, policy, now=now + timedelta(days=8))
    assert set(report.deleted) == footage_keys and not report.errors
    assert {e.key for e in store.list_objects()} == {snapshot}
