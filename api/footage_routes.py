"""Recorded footage of enforcement devices (issue 18) over HTTP.

- ``/api/v1/footage/uploads``: resumable uploads with the tus 1.0 protocol (core, creation, termination;
  served by ``tuspyserver``). The upload's metadata names ``source_id`` (an enforcement source), optionally
  ``started_at`` (ISO 8601 wall time of the first frame; else the file's creation time) and ``track_id``
  (a track sent first to ``POST /api/v1/footage/tracks``), plus ``filename`` and ``filetype``. What can be
  checked before any byte is sent is checked at creation (4xx); the upload's last chunk answers 4xx if the
  file is not usable (not video, a track that misses it) and nothing of it is kept. A complete upload is a
  job whose id is the upload's id (the last segment of its URL).
- ``POST /api/v1/footage/tracks``: a GPX, NMEA or CSV (time,lng,lat) track as the body; answers its id.
- ``GET /api/v1/footage`` and ``GET /api/v1/footage/{job_id}``: the jobs, with progress and ETA.

The intake (probe the video, store it like evidence, create the job) is the wiring's (``FootageIntake``):
this package reads no media.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from .auth import Principal, require
from .footage_jobs import FootageJobOut, FootageJobs, FootageRejected

log = logging.getLogger(__name__)

UPLOADS_PREFIX = "/api/v1/footage/uploads"
Uploader = Annotated[Principal, Depends(require("footage:upload"))]


class TrackOut(BaseModel):
    track_id: str
    format: str
    points: int
    first: float  # unix s
    last: float


class FootageIntake(Protocol):
    uploads_dir: Path
    max_upload_bytes: int
    expiry_days: int

    def check(self, source_id: str | None, started_at: str | None, track_id: str | None,
              size: int | None) -> None:
        """Refuse what can be refused before the upload (raises FootageRejected)."""

    def stage_track(self, filename: str, data: bytes) -> TrackOut: ...

    def accept(self, upload: Path, *, job_id: str, filename: str, source_id: str, started_at: str | None,
               track_id: str | None, actor: str) -> FootageJobOut:
        """Probe, store and record the complete upload (raises FootageRejected); the caller removes it."""


def rejected(exc: FootageRejected) -> HTTPException:
    return HTTPException(exc.status, [{"type": "value_error", "loc": list(exc.loc), "msg": exc.message}])


def footage_router(jobs: FootageJobs, intake: FootageIntake) -> APIRouter:
    router = APIRouter(prefix="/api/v1/footage", tags=["footage"])
    read = Depends(require("footage:read"))

    @router.get("", response_model=list[FootageJobOut], dependencies=[read])
    def list_jobs(status: Annotated[str | None, Query(pattern="^(queued|running|done|failed)$")] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[FootageJobOut]:
        return jobs.list(status, limit)

    @router.post("/tracks", response_model=TrackOut, status_code=201)
    async def post_track(request: Request, principal: Uploader,
                         filename: Annotated[str, Query(min_length=1, max_length=255)] = "track") -> TrackOut:
        data = await request.body()
        if not data:
            raise HTTPException(422, [{"type": "value_error", "loc": ["body"], "msg": "the track is empty"}])
        try:
            return await run_in_threadpool(intake.stage_track, filename, data)
        except FootageRejected as exc:
            raise rejected(exc) from None

    @router.get("/{job_id}", response_model=FootageJobOut, dependencies=[read])
    def get_job(job_id: str) -> FootageJobOut:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"no footage job {job_id!r}")
        return job

    return router


def tus_router(intake: FootageIntake) -> APIRouter:
    """The tus endpoints; every one needs ``footage:upload``."""
    from tuspyserver import create_tus_router

    upload = require("footage:upload")

    def pre_create(metadata: dict[str, str], info: dict[str, Any]) -> None:
        try:
            intake.check(metadata.get("source_id"), metadata.get("started_at") or None,
                         metadata.get("track_id") or None, info.get("size"))
        except FootageRejected as exc:
            raise rejected(exc) from None
        if not metadata.get("filename") or not metadata.get("filetype"):  # the tus server reads them back
            raise HTTPException(422, [{"type": "value_error", "loc": ["metadata", "filename"],
                                       "msg": "Upload-Metadata needs filename and filetype"}])

    async def completion(principal: Uploader):
        async def complete(path: str, metadata: dict[str, str]) -> None:
            upload_path = Path(path)
            try:
                await run_in_threadpool(
                    intake.accept, upload_path, job_id=upload_path.name, filename=metadata.get("filename", ""),
                    source_id=metadata.get("source_id", ""), started_at=metadata.get("started_at") or None,
                    track_id=metadata.get("track_id") or None, actor=principal.username)
            except FootageRejected as exc:
                raise rejected(exc) from None
            finally:  # a job holds the stored copy; a refused upload leaves nothing behind
                await asyncio.to_thread(remove_upload, upload_path)
        return complete

    return create_tus_router(
        prefix=UPLOADS_PREFIX, files_dir=str(intake.uploads_dir), max_size=intake.max_upload_bytes,
        auth=upload, days_to_keep=intake.expiry_days, upload_complete_dep=completion,
        pre_create_hook=pre_create, tags=["footage"], strict_offset_validation=True)


def remove_upload(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".info")):
        p.unlink(missing_ok=True)


def attach_footage(app: Any, jobs: FootageJobs, intake: FootageIntake) -> None:
    """The routes, and every change of a job on the live event stream (``footage_job``)."""
    app.include_router(tus_router(intake))
    app.include_router(footage_router(jobs, intake))
    jobs.on_changed(lambda job: app.state.events.publish("footage_job", job))
