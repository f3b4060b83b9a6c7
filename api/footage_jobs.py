"""Analysis jobs of uploaded footage (issue 18) in the records: created when an upload is complete, claimed by
the process that analyses them, checkpointed as media time advances, finished ``done`` or ``failed`` with the
reason. A job left ``running`` by a process that died is claimed again at the next start and continues from
its checkpoint (``done_s``)."""
from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .db import FootageJobRecord

JobStatus = Literal["queued", "running", "done", "failed"]
JobListener = Callable[["FootageJobOut"], None]


class FootageJobCreate(BaseModel):
    id: str = Field(max_length=64)
    source: str
    filename: str = Field(max_length=255)
    video_key: str
    video_sha256: str
    video_size: int
    track_key: str | None = None
    track_format: str | None = None
    track_points: int = 0
    track_from: str | None = None
    started_at: datetime
    started_at_from: str = Field(description="upload (given) or container (the file's creation time)")
    duration_s: float
    created_by: str | None = None


class FootageJobOut(BaseModel):
    id: str
    source: str
    status: JobStatus
    filename: str
    video_key: str
    video_sha256: str
    video_size: int
    track_key: str | None
    track_format: str | None
    track_points: int
    track_from: str | None = Field(None, description="where the positions come from: upload (the track file), "
                                   "embedded (the file's own NMEA stream), live reports (the device's reports of "
                                   "that time); none: every frame unpositioned")
    started_at: datetime = Field(description="wall time of the first frame")
    started_at_from: str = Field(description="where started_at came from: upload (given) or container "
                                             "(the file's creation time)")
    duration_s: float = Field(description="media seconds in the file")
    done_s: float = Field(description="media seconds analysed (the checkpoint a restart continues from)")
    progress: float = Field(description="done_s / duration_s, 0..1")
    eta_s: float | None = Field(None, description="seconds until done at the rate of the run going on")
    rate: float | None = Field(None, description="media seconds analysed per wall second in the run going on")
    frames_analysed: int
    unpositioned_frames: int = Field(description="analysed frames with no track point near them (no position)")
    incidents: int
    error: str | None = Field(None, description="why the job failed")
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def _now() -> datetime:
    return datetime.now(timezone.utc)


class FootageJobs:
    """The jobs' records; listeners see every change (the live event stream)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = _now) -> None:
        self._sessions = sessions
        self._clock = clock
        self._listeners: builtins.list[JobListener] = []

    def on_changed(self, listener: JobListener) -> None:
        self._listeners.append(listener)

    def create(self, job: FootageJobCreate) -> FootageJobOut:
        now = self._clock()
        with self._sessions() as s:
            record = FootageJobRecord(**job.model_dump(), status="queued", done_s=0.0, frames_analysed=0,
                                      incidents=0, unpositioned_frames=0, created_at=now, updated_at=now)
            s.add(record)
            s.commit()
            out = self._out(record)
        self._notify(out)
        return out

    def get(self, job_id: str) -> FootageJobOut | None:
        with self._sessions() as s:
            record = s.get(FootageJobRecord, job_id)
            return None if record is None else self._out(record)

    def list(self, status: str | None = None, limit: int = 100) -> builtins.list[FootageJobOut]:
        query = select(FootageJobRecord).order_by(FootageJobRecord.created_at.desc()).limit(limit)
        if status:
            query = query.where(FootageJobRecord.status == status)
        with self._sessions() as s:
            return [self._out(r) for r in s.scalars(query)]

    def claim_next(self) -> FootageJobOut | None:
        """The oldest job left running (its process died: continue it first) or queued, now running."""
        with self._sessions() as s:
            for status in ("running", "queued"):
                record = s.scalars(select(FootageJobRecord).where(FootageJobRecord.status == status)
                                   .order_by(FootageJobRecord.created_at).limit(1)).first()
                if record is not None:
                    break
            else:
                return None
            now = self._clock()
            record.status, record.updated_at = "running", now
            record.run_started_wall, record.run_started_done_s = now, record.done_s
            s.commit()
            out = self._out(record)
        self._notify(out)
        return out

    def started(self, job_id: str, done_s: float) -> FootageJobOut:
        """Claimed elsewhere (a cluster worker) from ``done_s``: running, and the rate of this run starts now."""
        now = self._clock()
        return self._update(job_id, status="running", run_started_wall=now, run_started_done_s=done_s, done_s=done_s)

    def checkpoint(self, job_id: str, done_s: float, frames_analysed: int, unpositioned_frames: int,
                   incidents: int) -> FootageJobOut:
        return self._update(job_id, done_s=done_s, frames_analysed=frames_analysed,
                            unpositioned_frames=unpositioned_frames, incidents=incidents)

    def positions_from(self, job_id: str, track_from: str | None, points: int) -> FootageJobOut:
        """The track a job found when it started (embedded in the file, or the device's live reports)."""
        return self._update(job_id, track_from=track_from, track_points=points)

    def finish(self, job_id: str, error: str | None = None) -> FootageJobOut:
        """``done`` (all of it analysed: progress 1), or ``failed`` with ``error``."""
        if error is None:
            with self._sessions() as s:
                duration = s.get(FootageJobRecord, job_id).duration_s  # type: ignore[union-attr]
            return self._update(job_id, status="done", done_s=duration, finished_at=self._clock())
        return self._update(job_id, status="failed", error=error[:2000], finished_at=self._clock())

    def _update(self, job_id: str, **values: object) -> FootageJobOut:
        with self._sessions() as s:
            record = s.get(FootageJobRecord, job_id)
            if record is None:
                raise LookupError(job_id)
            for name, value in values.items():
                setattr(record, name, value)
            record.updated_at = self._clock()
            s.commit()
            out = self._out(record)
        self._notify(out)
        return out

    def _out(self, r: FootageJobRecord) -> FootageJobOut:
        rate = eta = None
        if r.status == "running" and r.run_started_wall is not None and r.run_started_done_s is not None:
            elapsed = (self._clock() - r.run_started_wall).total_seconds()
            done = r.done_s - r.run_started_done_s
            if elapsed > 0 and done > 0:
                rate = done / elapsed
                eta = max(0.0, r.duration_s - r.done_s) / rate
        progress = 1.0 if r.status == "done" else min(1.0, r.done_s / r.duration_s) if r.duration_s > 0 else 0.0
        return FootageJobOut(
            id=r.id, source=r.source, status=r.status, filename=r.filename, video_key=r.video_key,  # type: ignore[arg-type]
            video_sha256=r.video_sha256, video_size=r.video_size, track_key=r.track_key,
            track_format=r.track_format, track_points=r.track_points, track_from=r.track_from,
            started_at=r.started_at,
            started_at_from=r.started_at_from, duration_s=r.duration_s, done_s=r.done_s, progress=round(progress, 4),
            eta_s=None if eta is None else round(eta, 1), rate=None if rate is None else round(rate, 3),
            frames_analysed=r.frames_analysed, unpositioned_frames=r.unpositioned_frames, incidents=r.incidents,
            error=r.error, created_by=r.created_by, created_at=r.created_at, updated_at=r.updated_at,
            finished_at=r.finished_at)

    def _notify(self, out: FootageJobOut) -> None:
        for listener in self._listeners:
            try:
                listener(out)
            except Exception:  # noqa: BLE001 - a listener (the event stream) must not fail a job's record
                import logging

                logging.getLogger(__name__).exception("footage job listener failed")


class FootageRejected(ValueError):
    """An upload that cannot become a job: the field at fault (``loc``, e.g. ("metadata", "source_id")), the
    problem, and the HTTP status to answer with (422 by default; 413 when the disk is too full)."""

    def __init__(self, loc: tuple[str, ...], message: str, status: int = 422) -> None:
        super().__init__(f"{'.'.join(loc)}: {message}")
        self.loc, self.message, self.status = loc, message, status
