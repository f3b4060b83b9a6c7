"""Footage jobs in cluster mode (issue 18), with real processes: Redis, S3 (SeaweedFS), one `serve --role api`
and two `serve --role worker`. The upload lands in S3 through the API; one worker claims the job by its lease and
analyses it; that worker is killed with SIGKILL half-way, the other takes the job over from the checkpoint and
finishes it, and the van parked at the kerb is one incident, with its GPX position, in the review queue."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis

from streetsight.footage.tracks import Track, TrackPoint
from tests.cluster_procs import ADMIN_PASSWORD, ServeProcess
from tests.footage_helpers import STARTED_AT, Service, footage_config, last_json, login_token, patrol_gpx
from tests.pg_server import free_port
from tests.real_parts import missing_real_part
from tests.s3_server import SeaweedS3, new_bucket_name
from tests.test_cluster_failover import wait_for
from tests.test_footage import upload

pytestmark = [pytest.mark.samples]
FPS = 4  # frames enough that the job is still running when its worker is killed


@pytest.fixture
def vtest() -> Path:
    from datasets.samples import fetch_samples

    try:
        return fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    except Exception as exc:  # noqa: BLE001
        missing_real_part(f"sample footage (python -m datasets.samples): {exc}")


def test_a_job_runs_on_one_worker_and_another_finishes_it_after_kill_9(tmp_path, redis_server, s3_server: SeaweedS3,
                                                                        vtest, monkeypatch):
    monkeypatch.setenv("FOOTAGE_S3_SECRET", s3_server.secret_key)  # the processes inherit it
    bucket = new_bucket_name("footage")
    port = free_port()
    config = footage_config(tmp_path / "cluster.yaml", tmp_path / "api-data", port, fps=FPS)
    import yaml

    data = yaml.safe_load(config.read_text())
    data["storage"].update({"backend": "s3", "s3": {
        "endpoint": s3_server.endpoint, "bucket": bucket, "secure": False, "access_key": s3_server.access_key,
        "secret_key": "${FOOTAGE_S3_SECRET}"}})
    data["cluster"] = {"redis_url": redis_server.url, "lease_s": 4.0, "heartbeat_s": 1.0, "claim_idle_s": 5}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    workers = {}
    for w in ("w1", "w2"):  # each with its own disk: the video can only come from S3
        wdata = {**data, "storage": {**data["storage"], "data_dir": str(tmp_path / f"{w}-data")}}
        wconfig = tmp_path / f"{w}.yaml"
        wconfig.write_text(yaml.safe_dump(wdata, sort_keys=False))
        workers[w] = ServeProcess(w, wconfig, ["--role", "worker", "--worker-id", w], tmp_path)
    api = ServeProcess("api", config, ["--role", "api"], tmp_path).start()
    r = redis.Redis.from_url(redis_server.url)
    try:
        for w in workers.values():
            w.start()
        service = Service(api, port, login_token(port, ADMIN_PASSWORD))
        points = patrol_gpx(tmp_path / "patrol.gpx")
        res = upload(service, str(vtest), "--source", "bodycam-1", "--started-at", "2026-11-30T09:00:00+08:00",
                     "--track", str(tmp_path / "patrol.gpx"), "--json", state=tmp_path / "state.json")
        assert res.returncode == 0, res.stderr + api.log_tail()
        job_id = last_json(res.stdout)["job_id"]
        job = service.job(job_id)
        assert job["video_key"] and not list((tmp_path / "api-data").rglob("video.mp4"))  # in S3, not on disk
        stat = s3_server.client().stat_object(bucket, job["video_key"])
        assert stat.size == vtest.stat().st_size

        # 1. one worker holds the job's lease and analyses it; the API shows its progress
        lease = f"streetsight:lease:footage:{job_id}"
        half = service.wait_job(job_id, until=lambda j: j["done_s"] >= 20 and j["incidents"] >= 1)
        assert half["status"] == "running", half
        first = r.get(lease).decode()
        other = next(w for w in workers if w != first)
        before = {i["id"]: i for i in wait_for("the van stored", lambda: service.job_incidents(job_id), 60,
                                               [api, *workers.values()])}
        van = min(before.values(), key=lambda i: i["confirmed_at"])
        assert van["ended_at"] is None

        # 2. kill -9 it: its lease runs out, the other worker continues from the checkpoint
        workers[first].kill()
        checkpoint = float(r.hget(f"streetsight:footage:state:{job_id}", "done_s"))
        progress: list[float] = []
        done = service.wait_job(job_id, until=lambda j: progress.append(j["done_s"]) and False)
        assert done["status"] == "done", done
        # never back to the start (the records follow the worker's checkpoints within a second or so)
        assert min(progress) >= half["done_s"] and progress == sorted(progress)
        log = workers[other].log_tail(400_000)
        assert f"worker {other}: footage job {job_id} (run 2) from {checkpoint:.1f} s" in log
        assert r.exists(lease) == 0 and r.hexists("streetsight:footage:jobs", job_id) == 0

        # 3. one van, continued across the takeover, positioned from the GPX, in the review queue
        def stored() -> list[dict]:
            items = service.job_incidents(job_id)
            return items if len(items) == done["incidents"] and all(i["ended_at"] for i in items) else []

        after = wait_for("the job's incidents stored and ended", stored, 90, [api, workers[other]])
        assert set(before) <= {i["id"] for i in after}
        # frames between the checkpoint and the kill were analysed twice: what they confirmed is recorded once
        found = Counter((i["type"], i["zone"], i["class"], i["confirmed_at"]) for i in after)
        assert max(found.values()) == 1, found
        the_van = next(i for i in after if i["id"] == van["id"])
        assert the_van["ended_at"] > checkpoint  # the new worker's rules continued it, then ended it
        wall = datetime.fromisoformat(the_van["detected_wall"].replace("Z", "+00:00"))
        assert wall == STARTED_AT + timedelta(seconds=the_van["confirmed_at"])
        expected = Track([TrackPoint(t, lng, lat) for t, lat, lng in points]).at(wall.timestamp())
        assert the_van["position"] == pytest.approx(expected)
        queue = service.http.get("/api/v1/incidents", params={"status": "pending", "limit": 500}).json()
        assert van["id"] in {i["id"] for i in queue}
    finally:
        for p in (*workers.values(), api):
            p.stop()
