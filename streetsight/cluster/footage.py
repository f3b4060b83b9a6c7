"""Footage jobs in cluster mode (issue 18): the API process records the job, a worker with spare capacity
analyses it, one worker per job through a lease, and another continues from the checkpoint if it dies.

Keys (``cluster.key(...)``):

- ``<prefix>:footage:jobs``: HASH job id -> the job as the API recorded it (JSON), plus the device's live
  position reports of the recording's time and the incidents recorded at that time that its findings may merge
  with (streetsight/footage/merging.py; workers read no records); set while the job is not finished;
- ``<prefix>:lease:footage:<job>``: the lease, value = the worker id, ``PX`` = ``cluster.lease_s``, renewed
  every heartbeat by the worker analysing the job;
- ``<prefix>:footage:state:<job>``: HASH the worker writes: run (claims so far), worker, status, done_s,
  counts, track_from, the job's incidents so far (JSON: a worker taking over continues them, never opens them
  again), error. The API process applies it to the job's record (`FootageJobBoard`).

The video is read from the evidence store (S3 in a cluster), so any worker can analyse any job. Incidents go
to the API through the same bus as live ones (the worker's `EventPublisher`).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import redis

from api.footage_jobs import FootageJobOut, FootageJobs
from api.position_reports import PositionReports
from api.repository import IncidentRepository
from api.schemas import IncidentOut
from streetsight.cluster.connection import redis_text
from streetsight.cluster.handover import incident_from_dict
from streetsight.cluster.loop import BackgroundLoop
from streetsight.config import ClusterConfig
from streetsight.footage.merging import recorded_near
from streetsight.footage.recorder import JobRecorder, KnownIncident
from streetsight.footage.runner import FootageRunner
from streetsight.recovery import CLIP_LOST

log = logging.getLogger(__name__)

# Take a free lease, or keep one that names this worker (as the source leases do). 1: ours.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""
# Compare-and-DEL.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_FINISHED = ("done", "failed")


def _keys(cluster: ClusterConfig, job_id: str) -> tuple[str, str]:
    return cluster.key("footage", "state", job_id), cluster.key("lease", "footage", job_id)


# -- API side ---------------------------------------------------------------------------------------------

class FootageJobBoard:
    """Publishes queued jobs for the workers and applies the workers' progress to the records."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, jobs: FootageJobs, reports: PositionReports,
                 max_gap_s: float, interval_s: float = 1.0, repository: IncidentRepository | None = None,
                 merge_window_s: float = 600.0) -> None:
        """``repository``: the records, for the incidents a job's findings may merge with (None: none sent)."""
        self.client, self.cluster, self.jobs, self.reports = client, cluster, jobs, reports
        self.repository, self.merge_window_s = repository, merge_window_s
        self.max_gap_s, self.interval_s = max_gap_s, interval_s
        self.queue = cluster.key("footage", "jobs")
        self._applied: dict[str, tuple] = {}  # job -> the state last applied (run, done_s, track_from)
        self._loop = BackgroundLoop("footage-board", self._run)
        jobs.on_changed(lambda job: self.publish(job) if job.status == "queued" else None)

    def publish(self, job: FootageJobOut) -> None:
        t0 = job.started_at.timestamp()
        live = self.reports.between(job.source, t0 - self.max_gap_s, t0 + job.duration_s + self.max_gap_s)
        entry: dict[str, Any] = {"job": job.model_dump(mode="json"), "live_positions": [list(r) for r in live]}
        if self.repository is not None:
            entry["recorded_near"] = [out.model_dump(mode="json", by_alias=True)
                                      for out in recorded_near(self.repository, job, self.merge_window_s)]
        self.client.hset(self.queue, job.id, json.dumps(entry, separators=(",", ":")))

    def start(self) -> "FootageJobBoard":
        """Jobs not finished (recorded while Redis was away, or before a restart) are published again."""
        try:
            for status in ("queued", "running"):
                for job in self.jobs.list(status, limit=1000):
                    self.publish(job)
        except redis.RedisError as exc:
            log.warning("footage jobs not published yet (Redis: %s); the next start publishes them", exc)
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            try:
                self.sync()
            except redis.RedisError as exc:
                log.debug("footage board: Redis: %s", exc)
            except Exception:  # noqa: BLE001 - a bad entry must not stop the board
                log.exception("footage board: applying progress failed")

    def sync(self) -> None:
        listed = {redis_text(k) for k in self.client.hkeys(self.queue)}
        for job in self.jobs.list("queued", limit=1000):  # recorded while Redis was unreachable
            if job.id not in listed:
                self.publish(job)
        for job_id in listed:
            state = {redis_text(k): redis_text(v) for k, v in self.client.hgetall(_keys(self.cluster, job_id)[0]).items()}
            if state:
                self._apply(job_id, state)

    def _apply(self, job_id: str, state: dict[str, str]) -> None:
        run, status = int(state.get("run", 0)), state.get("status", "running")
        done_s, track_from = float(state.get("done_s", 0.0)), state.get("track_from") or None
        seen = self._applied.get(job_id)
        if seen is None or seen[0] != run:  # a worker claimed it (again): the rate starts over
            self.jobs.started(job_id, done_s)
            log.info("footage job %s: run %d on worker %s from %.1f s", job_id, run, state.get("worker"), done_s)
        if "track_points" in state and (seen is None or seen[2] != track_from):
            self.jobs.positions_from(job_id, track_from, int(state["track_points"]))
        if seen is None or seen[1] != done_s or status in _FINISHED:
            self.jobs.checkpoint(job_id, done_s, int(state.get("frames", 0)), int(state.get("unpositioned", 0)),
                                 int(state.get("incidents", 0)))
        self._applied[job_id] = (run, done_s, track_from)
        if status in _FINISHED:
            self.jobs.finish(job_id, error=state.get("error") or "failed" if status == "failed" else None)
            state_key, lease_key = _keys(self.cluster, job_id)
            pipe = self.client.pipeline(transaction=True)
            pipe.hdel(self.queue, job_id)
            pipe.delete(state_key, lease_key)
            pipe.execute()
            self._applied.pop(job_id, None)


# -- worker side ------------------------------------------------------------------------------------------

class JobState:
    """The runner's ``jobs`` and ``incidents`` on a worker: progress and the job's incidents go to the job's
    state in Redis; the job's incidents of an earlier run come from there. ``sink``: the worker's bus publisher
    (incidents of a dead run that no rule continues are ended through it)."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, job: FootageJobOut, sink: Any,
                 recorded: list[dict] | None = None) -> None:
        """``recorded``: the incidents the API attached for the job's findings to merge with (None: not sent)."""
        self.client, self.job, self.sink, self.recorded = client, job, sink, recorded
        self.key = _keys(cluster, job.id)[0]

    # FootageJobs, as far as the runner uses it
    def on_changed(self, listener) -> None:  # noqa: ANN001 - nothing listens on a worker
        return None

    def checkpoint(self, job_id: str, done_s: float, frames_analysed: int, unpositioned_frames: int,
                   incidents: int) -> FootageJobOut:
        self.client.hset(self.key, mapping={"done_s": done_s, "frames": frames_analysed,
                                            "unpositioned": unpositioned_frames, "incidents": incidents})
        self.job = self.job.model_copy(update={"done_s": done_s, "frames_analysed": frames_analysed,
                                               "unpositioned_frames": unpositioned_frames, "incidents": incidents})
        return self.job

    def positions_from(self, job_id: str, track_from: str | None, points: int) -> FootageJobOut:
        self.client.hset(self.key, mapping={"track_from": track_from or "", "track_points": points})
        return self.job

    def finish(self, job_id: str, error: str | None = None) -> FootageJobOut:
        status = "done" if error is None else "failed"
        self.client.hset(self.key, mapping={"status": status, "error": (error or "")[:2000],
                                            **({"done_s": self.job.duration_s} if error is None else {})})
        self.job = self.job.model_copy(update={"status": status, "error": error})
        return self.job

    # JobIncidents
    def known(self, job: FootageJobOut) -> list[KnownIncident]:
        raw = self.client.hget(self.key, "known")
        return [KnownIncident(**k) for k in json.loads(raw)] if raw else []

    def continue_open(self, job: FootageJobOut, analysis, recorder: JobRecorder) -> None:  # noqa: ANN001
        """The incidents the dead run left open are continued by the rules (or end at their last sighting);
        a clip the dead worker did not write is marked lost (a no-op if it was written)."""
        raw = self.client.hget(self.key, "open")
        for data in json.loads(raw) if raw else []:
            inc = incident_from_dict(data)
            if not analysis.adopt(inc):
                self.sink.mark_ended(inc.id, inc.last_seen_at)
            self.sink.mark_evidence_missing(inc.id, "clip", CLIP_LOST)

    def recorded_near(self, job: FootageJobOut, window_s: float) -> list[IncidentOut] | None:
        """What the API attached when it published the job (a worker reads no records)."""
        if self.recorded is None:
            return None
        return [IncidentOut.model_validate(data) for data in self.recorded]

    def checkpointed(self, job: FootageJobOut, recorder: JobRecorder) -> None:
        known = [asdict(k) for k in recorder.incidents_now()]
        still_open = [asdict(inc) for inc in recorder.open_now()]
        self.client.hset(self.key, mapping={"known": json.dumps(known, separators=(",", ":")),
                                            "open": json.dumps(still_open, separators=(",", ":"), default=str)})


class ReportedPositions:
    """The device's live reports the API attached to the job (``PositionReports.between`` on a worker)."""

    def __init__(self, reports: list[list[float]]) -> None:
        self.reports = [(float(t), float(lng), float(lat)) for t, lng, lat in reports]

    def between(self, source_id: str, start: float, end: float) -> list[tuple[float, float, float]]:
        return [r for r in self.reports if start <= r[0] <= end]


RunnerFactory = Callable[[JobState, ReportedPositions], FootageRunner]


class FootageJobTaker:
    """A worker's side: while it has room (``has_room()``), it takes the oldest free job, runs it in a thread
    and renews the job's lease every heartbeat; a lease it cannot renew for ``lease_s - heartbeat_s`` stops the
    run at its next frame (another worker continues from the checkpoint). One job at a time per worker."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, worker_id: str, make_runner: RunnerFactory,
                 has_room: Callable[[], bool], sink: Any) -> None:
        self.client, self.cluster, self.worker_id, self.sink = client, cluster, worker_id, sink
        self.make_runner, self.has_room = make_runner, has_room
        self.queue = cluster.key("footage", "jobs")
        self.heartbeat_s = cluster.resolved_heartbeat_s()
        self.lease_ms = int(cluster.lease_s * 1000)
        self.fence_after_s = cluster.lease_s - self.heartbeat_s
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._loop = BackgroundLoop("footage-jobs", self._run)
        self._current: tuple[str, FootageRunner, threading.Thread] | None = None
        self._renewed_at = 0.0

    def start(self) -> "FootageJobTaker":
        self._loop.start()
        return self

    def stop(self) -> None:
        """The job going on stops at its next frame, checkpointed; its lease is given back for another worker."""
        self._loop.stop(timeout_s=60.0)
        if self._current is not None:
            self._end_current(stop=True)

    def running(self) -> str | None:
        return self._current[0] if self._current is not None else None

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_s):
            try:
                if self._current is not None:
                    self._keep_current()
                elif self.has_room():
                    self._take_one()
            except redis.RedisError as exc:
                log.debug("worker %s: footage jobs: Redis: %s", self.worker_id, exc)
                self._fence()
            except Exception:  # noqa: BLE001 - keep taking jobs
                log.exception("worker %s: footage jobs", self.worker_id)

    def _take_one(self) -> None:
        entries = [json.loads(v) for v in self.client.hvals(self.queue)]
        for entry in sorted(entries, key=lambda e: e["job"]["created_at"]):
            job = FootageJobOut.model_validate(entry["job"])
            state_key, lease_key = _keys(self.cluster, job.id)
            sent = time.monotonic()
            if not self._acquire(keys=[lease_key], args=[self.worker_id, self.lease_ms]):
                continue
            self._renewed_at = sent
            state = {redis_text(k): redis_text(v) for k, v in self.client.hgetall(state_key).items()}
            if state.get("status") in _FINISHED:  # finished; the API has not applied it yet
                self._release(keys=[lease_key], args=[self.worker_id])
                continue
            job = job.model_copy(update={
                "status": "running", "done_s": float(state.get("done_s", 0.0)),
                "frames_analysed": int(state.get("frames", 0)), "unpositioned_frames": int(state.get("unpositioned", 0)),
                "incidents": int(state.get("incidents", 0)), "track_from": state.get("track_from") or None,
                "track_points": int(state.get("track_points", job.track_points))})
            run = self.client.hincrby(state_key, "run", 1)
            self.client.hset(state_key, mapping={"worker": self.worker_id, "status": "running"})
            progress = JobState(self.client, self.cluster, job, self.sink, entry.get("recorded_near"))
            runner = self.make_runner(progress, ReportedPositions(entry.get("live_positions", [])))
            thread = threading.Thread(target=runner.run_job, args=(job,), name=f"footage-{job.id}", daemon=True)
            self._current = (job.id, runner, thread)
            log.info("worker %s: footage job %s (run %d) from %.1f s of %.1f s", self.worker_id, job.id, run,
                     job.done_s, job.duration_s)
            thread.start()
            return

    def _keep_current(self) -> None:
        job_id, runner, thread = self._current  # type: ignore[misc]
        if not thread.is_alive():
            self._end_current(stop=False)
            return
        sent = time.monotonic()
        if self._acquire(keys=[_keys(self.cluster, job_id)[1]], args=[self.worker_id, self.lease_ms]):
            self._renewed_at = sent
        else:
            log.warning("worker %s: footage job %s: lease lost; stopping at the checkpoint", self.worker_id, job_id)
            self._end_current(stop=True, give_back=False)

    def _fence(self) -> None:
        if self._current is not None and time.monotonic() - self._renewed_at >= self.fence_after_s:
            log.warning("worker %s: footage job %s: lease not renewed for %.1f s; stopping", self.worker_id,
                        self._current[0], time.monotonic() - self._renewed_at)
            self._end_current(stop=True, give_back=False)

    def _end_current(self, stop: bool, give_back: bool = True) -> None:
        job_id, runner, thread = self._current  # type: ignore[misc]
        if stop:
            runner.stop()  # the run checkpoints and returns; the job stays running for the next worker
            thread.join(60.0)
        self._current = None
        if give_back:
            try:
                self._release(keys=[_keys(self.cluster, job_id)[1]], args=[self.worker_id])
            except redis.RedisError as exc:
                log.warning("worker %s: footage job %s: lease left to expire (Redis: %s)", self.worker_id, job_id, exc)
