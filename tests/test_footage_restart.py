"""A running footage job survives kill -9 (issue 18): `serve` dies mid-analysis, the job stays `running` at its
checkpoint, and after a restart it continues from there (progress never goes back) and finishes with the
incident it had found, not a second one for the same van: what it finds equals what the same recording gives
without a crash."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from api.db import FootageJobRecord
from tests.cluster_procs import ADMIN_PASSWORD, ServeProcess
from tests.footage_helpers import STARTED_AT, Service, footage_config, last_json, login_token, patrol_gpx
from tests.pg_server import free_port
from tests.real_parts import missing_real_part
from tests.test_footage import upload

pytestmark = [pytest.mark.samples]
FPS = 4  # more frames than the default: the job runs long enough to be killed half-way


def test_a_job_killed_with_sigkill_finishes_after_a_restart_without_duplicates(tmp_path: Path):
    from datasets.samples import fetch_samples

    try:
        vtest = fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    except Exception as exc:  # noqa: BLE001
        missing_real_part(f"sample footage (python -m datasets.samples): {exc}")
    port = free_port()
    config = footage_config(tmp_path / "config.yaml", tmp_path / "data", port, fps=FPS)
    proc = ServeProcess("serve", config, [], tmp_path).start()
    try:
        service = Service(proc, port, login_token(port, ADMIN_PASSWORD))
        patrol_gpx(tmp_path / "patrol.gpx")
        r = upload(service, str(vtest), "--source", "bodycam-1", "--started-at", "2026-11-30T09:00:00+08:00",
                   "--track", str(tmp_path / "patrol.gpx"), "--json", state=tmp_path / "state.json")
        assert r.returncode == 0, r.stderr
        job_id = last_json(r.stdout)["job_id"]
        half = service.wait_job(job_id, until=lambda j: j["done_s"] >= 25 and j["incidents"] >= 1)
        assert half["status"] == "running"
        before = {i["id"]: i for i in service.job_incidents(job_id)}
        van = min(before.values(), key=lambda i: i["confirmed_at"])
        assert van["ended_at"] is None  # still parked: open when the process dies
        proc.kill()

        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'streetsight.db'}")
        with Session(engine) as s:
            record = s.scalars(select(FootageJobRecord).where(FootageJobRecord.id == job_id)).one()
            checkpoint = record.done_s
            assert record.status == "running" and checkpoint >= half["done_s"] >= 25
        engine.dispose()

        proc = ServeProcess("serve", config, [], tmp_path).start()
        service = Service(proc, port, login_token(port, ADMIN_PASSWORD))
        progress = []
        job = service.wait_job(job_id, until=lambda j: progress.append(j["done_s"]) and False)
        assert job["status"] == "done", job
        assert min(progress) >= checkpoint and progress == sorted(progress)  # continued, never from the start
        assert f"footage job {job_id}: continuing from {checkpoint:.1f} s" in proc.log_tail(200_000)

        after = service.job_incidents(job_id)
        assert set(before) <= {i["id"] for i in after}  # what was found before the crash is kept
        spans = sorted((i["started_at"], i["ended_at"], i["id"]) for i in after if i["zone"] == van["zone"])
        assert all(end is not None for _, end, _ in spans), spans  # every incident ended
        the_van = next(i for i in after if i["id"] == van["id"])
        assert the_van["ended_at"] > checkpoint + 5  # seen after the restart, as the same incident

        # the same recording analysed without a crash (a day later, so no finding merges with the first job's)
        # finds exactly what the interrupted job found: the crash neither lost nor duplicated an incident
        patrol_gpx(tmp_path / "patrol2.gpx", start=STARTED_AT + timedelta(days=1))
        r = upload(service, str(vtest), "--source", "bodycam-1", "--started-at", "2026-12-01T09:00:00+08:00",
                   "--track", str(tmp_path / "patrol2.gpx"), "--json", state=tmp_path / "state2.json")
        assert r.returncode == 0, r.stderr
        uninterrupted_id = last_json(r.stdout)["job_id"]
        assert service.wait_job(uninterrupted_id, until=lambda j: False)["status"] == "done"
        uninterrupted = sorted((i["zone"], i["type"], i["started_at"], i["ended_at"])
                               for i in service.job_incidents(uninterrupted_id))
        found = sorted((i["zone"], i["type"], i["started_at"], i["ended_at"]) for i in after)
        assert [u[:2] for u in uninterrupted] == [("kerb", "illegal_parking")], uninterrupted  # the van, once
        assert len(found) == len(uninterrupted), (found, uninterrupted)
        for got, want in zip(found, uninterrupted):  # the tracker starts afresh at the checkpoint: a frame's slack
            assert got[:2] == want[:2] and abs(got[2] - want[2]) <= 1.0 and abs(got[3] - want[3]) <= 1.0, \
                (found, uninterrupted)
        assert job["incidents"] == len(after)
        assert job["frames_analysed"] <= FPS * job["duration_s"] + FPS  # no frame counted twice
    finally:
        proc.stop()
