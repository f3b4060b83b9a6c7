"""Retraining jobs started from the UI (issue 19 item 4) in the records: queued when a trainer starts one, claimed
by the runner of this deployment, updated as the run reports its stage and epochs, finished ``succeeded`` (its
result put in shadow mode), ``failed`` (with the reason) or ``cancelled``. A job a previous process left
``running`` is ended and marked failed at the next start (``interrupted``): never silently lost."""
from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .audit import record_audit
from .db import TrainingJobRecord

TrainingStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE = ("queued", "running")
LOG_TAIL_CHARS = 4000


class TrainingJobOut(BaseModel):
    id: str
    status: TrainingStatus
    dataset: str = Field(description="the dataset folder the reviews are merged into (its newest version)")
    name: str = Field(description="the model name; the result is registered as <name>.v<N>")
    params: dict[str, Any]
    stage: str | None = Field(None, description="dataset, train, export, evaluate, register, shadow")
    epoch: int
    epochs: int
    progress: float = Field(description="epochs done / epochs, 0..1")
    metrics: dict[str, Any] | None = Field(None, description="the last epoch's validation (precision, recall, mAP)")
    log_tail: str | None = Field(None, description="the run's last output lines")
    result: dict[str, Any] | None = Field(None, description="the run's summary: version, held-out evaluation")
    candidate: str | None = Field(None, description="the registered version now in shadow mode")
    error: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _out(r: TrainingJobRecord) -> TrainingJobOut:
    progress = min(1.0, r.epoch / r.epochs) if r.epochs else (1.0 if r.status == "succeeded" else 0.0)
    return TrainingJobOut(id=r.id, status=r.status, dataset=r.dataset, name=r.name, params=dict(r.params or {}),
                          stage=r.stage, epoch=r.epoch, epochs=r.epochs, progress=round(progress, 3),
                          metrics=r.metrics, log_tail=r.log_tail, result=r.result, candidate=r.candidate,
                          error=r.error, created_by=r.created_by, created_at=r.created_at, updated_at=r.updated_at,
                          started_at=r.started_at, finished_at=r.finished_at)


class JobBusy(RuntimeError):
    """One retraining at a time per deployment: this machine's CPUs (or GPU) are taken by the one going on."""


class TrainingJobs:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime] = _now) -> None:
        self._sessions = sessions
        self._clock = clock

    def create(self, dataset: str, name: str, params: dict[str, Any], created_by: str | None) -> TrainingJobOut:
        now = self._clock()
        with self._sessions() as s:
            busy = s.scalars(select(TrainingJobRecord).where(TrainingJobRecord.status.in_(ACTIVE))).first()
            if busy is not None:
                raise JobBusy(f"training job {busy.id} ({busy.name}) is {busy.status}: one retraining at a time "
                              "(cancel it to start another)")
            record = TrainingJobRecord(id=f"train_{secrets.token_hex(6)}", status="queued", dataset=dataset, name=name,
                                       params=params, epoch=0, epochs=int(params.get("epochs", 0)),
                                       created_by=created_by, created_at=now, updated_at=now)
            s.add(record)
            record_audit(s, created_by or "unknown", "training.start",
                         after={"job": record.id, "dataset": dataset, "name": name, **params})
            s.commit()
            return _out(record)

    def audit(self, actor: str, action: str, job_id: str) -> None:
        with self._sessions() as s:
            record_audit(s, actor, action, after={"job": job_id})
            s.commit()

    def get(self, job_id: str) -> TrainingJobOut | None:
        with self._sessions() as s:
            record = s.get(TrainingJobRecord, job_id)
            return _out(record) if record is not None else None

    def list(self, limit: int = 50) -> list[TrainingJobOut]:
        with self._sessions() as s:
            rows = s.scalars(select(TrainingJobRecord).order_by(TrainingJobRecord.created_at.desc()).limit(limit))
            return [_out(r) for r in rows]

    def active(self, status: str) -> list[TrainingJobOut]:
        with self._sessions() as s:
            rows = s.scalars(select(TrainingJobRecord).where(TrainingJobRecord.status == status)
                             .order_by(TrainingJobRecord.created_at))
            return [_out(r) for r in rows]

    def pid_of(self, job_id: str) -> int | None:
        """The process group of the job's run (kept out of its public view)."""
        with self._sessions() as s:
            record = s.get(TrainingJobRecord, job_id)
            return record.pid if record is not None else None

    def update(self, job_id: str, *, only_if: tuple[str, ...] | None = None, **fields: Any) -> TrainingJobOut | None:
        """Set ``fields``; with ``only_if``, only while the job's status is one of those (None: it was not)."""
        with self._sessions() as s:
            record = s.get(TrainingJobRecord, job_id, with_for_update=True)
            if record is None or (only_if is not None and record.status not in only_if):
                return None
            if "log_tail" in fields and fields["log_tail"] is not None:
                fields["log_tail"] = fields["log_tail"][-LOG_TAIL_CHARS:]
            for key, value in fields.items():
                setattr(record, key, value)
            record.updated_at = self._clock()
            if fields.get("status") in ("succeeded", "failed", "cancelled"):
                record.finished_at = record.updated_at
            s.commit()
            return _out(record)
