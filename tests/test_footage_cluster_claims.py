"""Who takes a footage job in a cluster (issue 18), on a real Redis: only a worker with room, and exactly one of
several with room; the job's runner here stands in for the analysis (it finishes when told), the leases and the
job board are the real ones."""
from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timezone

import redis

from api.footage_jobs import FootageJobOut
from streetsight.cluster.footage import FootageJobTaker, JobState, ReportedPositions
from streetsight.config import ClusterConfig

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)


class HeldRun:
    """Runs until released, then finishes the job through its state (as `FootageRunner.run_job` does)."""

    def __init__(self, state: JobState, positions: ReportedPositions, ran: list[str]) -> None:
        self.state, self.positions, self.ran = state, positions, ran
        self.release = threading.Event()

    def run_job(self, job: FootageJobOut) -> None:
        self.ran.append(job.id)
        self.release.wait(30)
        self.state.finish(job.id)

    def stop(self) -> None:
        self.release.set()


def job(job_id: str) -> FootageJobOut:
    return FootageJobOut(
        id=job_id, source="bodycam-1", status="queued", filename="patrol.mp4", video_key=f"k/{job_id}.mp4",
        video_sha256="0" * 64, video_size=1, track_key=None, track_format=None, track_points=0, started_at=NOW,
        started_at_from="upload", duration_s=60.0, done_s=0.0, progress=0.0, frames_analysed=0,
        unpositioned_frames=0, incidents=0, created_by="dock-7", created_at=NOW, updated_at=NOW, finished_at=None)


def wait_until(predicate, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (value := predicate()):
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_only_a_worker_with_room_takes_a_job_and_only_one_of_them(redis_server):
    cluster = ClusterConfig(redis_url=redis_server.url, lease_s=2.0, heartbeat_s=0.2)
    client = redis.Redis.from_url(redis_server.url)
    runs: dict[str, list[HeldRun]] = {"w1": [], "w2": [], "w3": []}
    ran: dict[str, list[str]] = {w: [] for w in runs}
    room = {"w1": False, "w2": True, "w3": True}  # w1 reads as many cameras as its capacity

    def taker(worker: str) -> FootageJobTaker:
        def make(state: JobState, positions: ReportedPositions) -> HeldRun:
            runs[worker].append(HeldRun(state, positions, ran[worker]))
            return runs[worker][-1]
        return FootageJobTaker(client, cluster, worker, make, lambda: room[worker], sink=None).start()

    takers = [taker(w) for w in runs]
    try:
        entry = {"job": job("job-1").model_dump(mode="json"), "live_positions": [[1.0, 120.0, 30.0]]}
        client.hset("streetsight:footage:jobs", "job-1", json.dumps(entry))
        holder = wait_until(lambda: client.get("streetsight:lease:footage:job-1")).decode()
        assert holder in ("w2", "w3")
        time.sleep(1.0)  # several heartbeats of every worker: nobody else starts it
        assert {w: r for w, r in ran.items() if r} == {holder: ["job-1"]}
        assert runs[holder][0].positions.reports == [(1.0, 120.0, 30.0)]
        assert client.hget("streetsight:footage:state:job-1", "worker").decode() == holder

        runs[holder][0].release.set()  # done: the lease goes back, the state says done for the API to apply
        wait_until(lambda: client.get("streetsight:lease:footage:job-1") is None)
        assert client.hget("streetsight:footage:state:job-1", "status") == b"done"
        time.sleep(0.6)
        assert sum(len(r) for r in ran.values()) == 1  # a finished job is not taken again
    finally:
        for t in takers:
            t.stop()
        client.close()
