"""Runs footage jobs one at a time in a thread of `serve`: the analysis `analyze` does (the device's rules,
k of n, batched detection, clips from the file's own packets, the shared `GeoMerger` so live devices' findings
at the same place and time merge), with each frame's position interpolated from the track at its wall time.

Positions come from the uploaded track; without one, from an NMEA stream embedded in the file; without that,
from the device's live position reports kept in the records for the recording's time (`PositionReports`).
A frame with no position near it in any of them stays unpositioned.

Progress is checkpointed every ``footage.checkpoint_every_s`` media seconds. A job found ``running`` at start
(the process died) continues from its checkpoint: earlier frames are read but not analysed, the job's open
incidents are continued, and a finding re-confirmed after the checkpoint keeps its incident (`JobRecorder`).
"""
from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from api.db import IncidentRecord
from api.footage_jobs import FootageJobOut, FootageJobs
from api.position_reports import PositionReports
from api.repository import IncidentRepository
from api.schemas import IncidentOut
from api.source_catalog import SourceCatalog
from detectors.geo import Merger
from evidence.store import EvidenceStore
from streams.frames import Frame
from streams.health import SourceState
from streetsight.config import EVENT_TYPES, Config, ConfigError, parse_source
from streetsight.footage.recorder import JobRecorder, KnownIncident
from streetsight.footage.embedded import embedded_track
from streetsight.footage.merging import job_span, merge_window_s, recorded_near, seeded_merger
from streetsight.footage.tracks import Track, TrackPoint, parse_track
from streetsight.pipeline import SourceAnalysis, make_reader
from streetsight.recovery import incident_of, recover_evidence
from vision.detection import FrameDetector

log = logging.getLogger(__name__)


class JobIncidents(Protocol):
    """Where a job's incidents of the run before a restart are found, and its checkpoints keep them."""

    def known(self, job: FootageJobOut) -> list[KnownIncident]: ...

    def continue_open(self, job: FootageJobOut, analysis: SourceAnalysis, recorder: JobRecorder) -> None: ...

    def checkpointed(self, job: FootageJobOut, recorder: JobRecorder) -> None: ...

    def recorded_near(self, job: FootageJobOut, window_s: float) -> list[IncidentOut] | None:
        """Stored incidents its findings may merge with (streetsight/footage/merging.py); None: not known here,
        the job uses the process's shared merger."""
        ...


class JobFailed(Exception):
    """The job cannot go on; the message is the reason recorded."""


@dataclass
class _Counts:
    frames: int = 0
    unpositioned: int = 0


class FootageRunner:
    def __init__(self, cfg: Config, jobs: FootageJobs, catalog: SourceCatalog, repository: IncidentRepository,
                 store: EvidenceStore, detector: FrameDetector, merger: Merger | None = None,
                 poll_s: float = 2.0, batch: int = 4, positions: PositionReports | None = None,
                 incidents: JobIncidents | None = None) -> None:
        """``repository``: where the recorder writes (the records, or a worker's bus publisher);
        ``incidents``: the job's incidents of a run before (default: from the records)."""
        self.cfg, self.jobs, self.catalog, self.repository = cfg, jobs, catalog, repository
        self.incidents = incidents or RecordedJobIncidents(repository, store)
        self.positions = positions
        self.store, self.detector, self.merger = store, detector, merger
        self.footage = cfg.footage
        self.work_dir = self.footage.resolved_work_dir(cfg.storage.data_dir)
        self.poll_s, self.batch = poll_s, batch
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        jobs.on_changed(lambda job: self._wake.set() if job.status == "queued" else None)

    def start(self) -> "FootageRunner":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="footage-jobs", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """The job going on stays ``running`` at its last checkpoint; the next start continues it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.jobs.claim_next()
            except Exception:  # noqa: BLE001 - the database may be down: try again
                log.exception("footage: claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self.run_job(job)

    def run_job(self, job: FootageJobOut) -> None:
        t0 = time.monotonic()
        try:
            finished = self._analyse(job)
        except JobFailed as exc:
            log.warning("footage job %s failed: %s", job.id, exc)
            self.jobs.finish(job.id, error=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - one bad job must not stop the others
            log.exception("footage job %s failed", job.id)
            self.jobs.finish(job.id, error=f"{type(exc).__name__}: {exc}")
            return
        if finished:
            done = self.jobs.finish(job.id)
            elapsed = time.monotonic() - t0
            log.info("footage job %s done: %d incident(s); %.1f media s in %.1f s (%.2f media s per wall s)",
                     job.id, done.incidents, job.duration_s - job.done_s, elapsed,
                     (job.duration_s - job.done_s) / elapsed if elapsed > 0 else float("nan"))

    # -- one job -------------------------------------------------------------------------------------

    def _analyse(self, job: FootageJobOut) -> bool:
        """True when the file was analysed to its end; False when stopped part-way (left running)."""
        src = self._source(job)
        video, scratch = self._local_video(job)
        try:
            track = self._track(job, video)
            known = self.incidents.known(job)
            resumed_from = job.done_s if job.done_s > 0 else None
            recorder = JobRecorder(self.store, self.repository, self.cfg.evidence, job_id=job.id,
                                   started_at=job.started_at, known=known,
                                   same_within_s=max(self.cfg.rules.for_type(t).leave_after_s for t in EVENT_TYPES))
            recorder.on_new = lambda: self.incidents.checkpointed(job, recorder)
            src = src.model_copy(update={"url": str(video), "media_start": job.started_at, "realtime": False})
            analysis = SourceAnalysis.create(src, self.cfg, self._merger_for(job))
            if resumed_from is not None:
                self.incidents.continue_open(job, analysis, recorder)
                log.info("footage job %s: continuing from %.1f s of %.1f s", job.id, resumed_from, job.duration_s)
            reader = make_reader(src, self.cfg, analysis.ring, realtime_default=False)
            counts = _Counts(job.frames_analysed, job.unpositioned_frames)
            t0 = job.started_at.timestamp()
            pending: list[Frame] = []
            next_checkpoint = (resumed_from or 0.0) + self.footage.checkpoint_every_s
            last_time = resumed_from or 0.0

            def run_batch() -> None:
                for frame, dets in zip(pending, self.detector.detect([f.image for f in pending])):
                    position = track.at(t0 + frame.time_s) if track is not None else None
                    if position is not None:
                        frame.extras["position"] = position
                    else:
                        counts.unpositioned += 1
                    analysis.handle(frame, dets, recorder)
                    counts.frames += 1
                pending.clear()

            try:
                for frame in reader.frames():
                    if self._stop.is_set():
                        reader.stop()
                        break
                    if resumed_from is not None and frame.time_s <= resumed_from:
                        continue  # analysed before the restart (its packets still fill the clip ring)
                    pending.append(frame)
                    if len(pending) >= self.batch:
                        last_time = pending[-1].time_s
                        run_batch()
                        if last_time >= next_checkpoint:
                            self._checkpoint(job, last_time, counts, recorder)
                            next_checkpoint = last_time + self.footage.checkpoint_every_s
                if self._stop.is_set():
                    if pending:
                        last_time = pending[-1].time_s
                        run_batch()
                    analysis.release(recorder)  # clips with the post-roll there is; incidents stay open
                    self._checkpoint(job, last_time, counts, recorder)
                    return False
                if pending:
                    run_batch()
                analysis.finish(recorder)
            finally:
                recorder.close()
            if reader.health.state is SourceState.FAILED and counts.frames == 0:
                raise JobFailed(f"the video could not be read: {reader.health.last_error or 'failed'}")
            self._checkpoint(job, job.duration_s, counts, recorder)
            if reader.health.state is SourceState.FAILED:
                raise JobFailed(f"the video could not be read to its end: {reader.health.last_error}")
            return True
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    def _checkpoint(self, job: FootageJobOut, done_s: float, counts: _Counts, recorder: JobRecorder) -> None:
        self.incidents.checkpointed(job, recorder)
        self.jobs.checkpoint(job.id, min(done_s, job.duration_s), counts.frames, counts.unpositioned,
                             len(recorder.opened))

    def _source(self, job: FootageJobOut):
        body = self.catalog.get(job.source)
        if body is None:
            raise JobFailed(f"source {job.source!r} no longer exists")
        body = {**body, "url": "file.mp4"}  # the device's stream URL (and any secret in it) plays no part
        try:
            return parse_source(body, origin=f"source {job.source!r}")
        except ConfigError as exc:
            raise JobFailed(str(exc)) from None

    def _merger_for(self, job: FootageJobOut) -> Merger | None:
        """The job's own merger seeded from the records, where this process has them (see merging.py)."""
        window_s = merge_window_s(self.cfg)
        nearby = self.incidents.recorded_near(job, window_s)
        if nearby is None:
            return self.merger
        log.info("footage job %s: %d recorded incidents of its time to merge with", job.id, len(nearby))
        return seeded_merger(nearby, window_s, job_span(job, window_s))

    def _local_video(self, job: FootageJobOut) -> tuple[Path, Path | None]:
        """The stored video as a local file: the store's own (local disk) or a copy (S3)."""
        path_for = getattr(self.store, "path_for", None)
        local = path_for(job.video_key) if path_for is not None else None
        if local is not None and Path(local).is_file():
            return Path(local), None
        scratch = self.work_dir / job.id
        scratch.mkdir(parents=True, exist_ok=True)
        target = scratch / Path(job.video_key).name
        try:
            with self.store.open(job.video_key) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except OSError as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            raise JobFailed(f"the stored video {job.video_key} could not be read: {exc}") from None
        return target, scratch

    def _track(self, job: FootageJobOut, video: Path) -> Track | None:
        """The uploaded track, else the file's embedded one, else the device's live reports of that time."""
        gap = self.footage.track_max_gap_s
        if job.track_key is not None and job.track_format is not None:
            with self.store.open(job.track_key) as f:
                return Track(parse_track(f.read(), job.track_format), gap)
        points, origin = embedded_track(video), "embedded"
        if not points:
            points, origin = self._live_reports(job), "live reports"
        if not points:
            self.jobs.positions_from(job.id, None, 0)
            log.info("footage job %s: no track, none embedded, no live reports of that time: unpositioned", job.id)
            return None
        track = Track(points, gap)
        t0 = job.started_at.timestamp()
        if not track.overlaps(t0, t0 + job.duration_s):
            log.info("footage job %s: the %s track misses the video's time: unpositioned", job.id, origin)
            self.jobs.positions_from(job.id, None, 0)
            return None
        if job.track_from != origin or job.track_points != len(points):
            self.jobs.positions_from(job.id, origin, len(points))
        return track

    def _live_reports(self, job: FootageJobOut) -> list[TrackPoint]:
        if self.positions is None:
            return []
        t0, gap = job.started_at.timestamp(), self.footage.track_max_gap_s
        reports = self.positions.between(job.source, t0 - gap, t0 + job.duration_s + gap)
        return [TrackPoint(t, lng, lat) for t, lng, lat in reports]


class RecordedJobIncidents:
    """Role ``all``: the job's incidents are in the records this process writes."""

    def __init__(self, repository: IncidentRepository, store: EvidenceStore) -> None:
        self.repository, self.store = repository, store

    def _records(self, job: FootageJobOut) -> list[IncidentRecord]:
        with self.repository.sessions() as s:
            rows = s.scalars(select(IncidentRecord).where(IncidentRecord.source == job.source)).all()
        return [r for r in rows if ((r.extra or {}).get("footage") or {}).get("job") == job.id]

    def known(self, job: FootageJobOut) -> list[KnownIncident]:
        return [KnownIncident(r.id, r.type, r.zone or "", r.started_at,
                              r.last_seen if r.last_seen is not None else r.confirmed_at)
                for r in self._records(job)]

    def continue_open(self, job: FootageJobOut, analysis: SourceAnalysis, recorder: JobRecorder) -> None:
        """The incidents the run before the restart left open are continued (or end at their last sighting
        when no rule takes them); those whose evidence was cut short get what exists."""
        unfinished = [self.repository.get(r.id) for r in self._records(job) if r.ended_at is None]
        incidents = [incident_of(out) for out in unfinished if out is not None]
        for inc in incidents:
            if not analysis.adopt(inc):
                self.repository.mark_ended(inc.id, inc.last_seen_at)
        recover_evidence(self.repository, self.store, incidents)

    def recorded_near(self, job: FootageJobOut, window_s: float) -> list[IncidentOut]:
        return recorded_near(self.repository, job, window_s)

    def checkpointed(self, job: FootageJobOut, recorder: JobRecorder) -> None:
        """The records hold them already."""
