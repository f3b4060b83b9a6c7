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
