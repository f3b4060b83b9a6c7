"""``/api/v1/training``: a trainer retrains a model from the UI (issue 19 item 4) and follows its progress.

The job is a record (api/training_jobs.py); the wiring's ``TrainingLauncher`` (streetsight/training_jobs.py) runs
it in the training environment and puts the result in shadow mode. Without that environment (no torch) a start
is refused with the reason (409), never a 500.
"""
from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from .auth import Principal, require
from .training_jobs import JobBusy, TrainingJobOut, TrainingJobs

NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class TrainingLauncher(Protocol):
    def unavailable(self) -> str | None:
        """Why no training can run here (no training environment), or None."""

    def datasets(self) -> list[str]:
        """The dataset folders a trainer may retrain from."""

    def start(self) -> None:
        """A job was queued: run it."""

    def cancel(self, job_id: str) -> bool:
        """End the job's run; False when it is not queued or running."""


class TrainingIn(BaseModel):
    dataset: str = Field(min_length=1, max_length=128, description="a dataset folder (training.datasets_dir)")
    name: str = Field(pattern=NAME, description="the model name; the result is registered as <name>.v<N>")
    epochs: int = Field(30, ge=1, le=1000)
    imgsz: int = Field(320, ge=32, le=1920, multiple_of=32)
    batch: int = Field(16, ge=1, le=256)


def _field_error(field: str, message: str) -> HTTPException:
    return HTTPException(422, [{"type": "value_error", "loc": ["body", field], "msg": message}])


def _found(jobs: TrainingJobs, job_id: str) -> TrainingJobOut:
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"training job {job_id!r} not found")
    return job


def training_router(jobs: TrainingJobs, launcher: TrainingLauncher) -> APIRouter:
    router = APIRouter(prefix="/api/v1/training", tags=["training"])
    trainer = Depends(require("models:train"))

    @router.get("", dependencies=[trainer])
    def overview() -> dict[str, Any]:
        """Whether training can run here (and why not), the datasets to retrain from, the latest jobs."""
        reason = launcher.unavailable()
        return {"available": reason is None, "reason": reason, "datasets": launcher.datasets(),
                "jobs": [j.model_dump(mode="json") for j in jobs.list()]}

    @router.post("/jobs", status_code=201)
    def start(body: TrainingIn, principal: Annotated[Principal, Depends(require("models:train"))]) -> TrainingJobOut:
        """Export the reviews into a new version of the dataset, train on it, evaluate on its held-out split and
        register the result, which then runs in shadow mode beside the serving model."""
        reason = launcher.unavailable()
        if reason is not None:
            raise HTTPException(409, reason)
        if body.dataset not in launcher.datasets():
            raise _field_error("dataset", f"no dataset {body.dataset!r} to retrain from; known: {launcher.datasets()}")
        try:
            job = jobs.create(body.dataset, body.name, {"epochs": body.epochs, "imgsz": body.imgsz,
                                                        "batch": body.batch}, principal.username)
        except JobBusy as exc:
            raise HTTPException(409, str(exc)) from None
        launcher.start()
        return job

    @router.get("/jobs/{job_id}", dependencies=[trainer])
    def get_job(job_id: Annotated[str, PathParam(max_length=32)]) -> TrainingJobOut:
        return _found(jobs, job_id)

    @router.post("/jobs/{job_id}/cancel")
    def cancel(job_id: Annotated[str, PathParam(max_length=32)],
               principal: Annotated[Principal, Depends(require("models:train"))]) -> TrainingJobOut:
        job = _found(jobs, job_id)
        if not launcher.cancel(job_id):
            raise HTTPException(409, f"training job {job_id} is {job.status}: nothing to cancel")
        jobs.audit(principal.username, "training.cancel", job_id)
        return _found(jobs, job_id)

    return router
