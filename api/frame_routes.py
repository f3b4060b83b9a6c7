"""``/api/v1/sources/{id}/snapshot`` and ``/preview``: a camera's latest analysed frame, and what the detector
and the rules see on it (for the zone editor and the camera wall).

The frames come from a `FrameView` the wiring provides: the pipeline's own in process (role ``all``), or what
workers publish to Redis (role ``api``). This package only serves them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from .auth import require
from .served_frames import frame_id_of

SNAPSHOT_MAX_WIDTH = 4096


@dataclass(frozen=True)
class SnapshotImage:
    jpeg: bytes
    wall_time: float  # unix time the frame was analysed


class DetectionOut(BaseModel):
    class_name: str
    score: float
    box: list[float] = Field(description="x1, y1, x2, y2 normalised to 0..1 of the frame")


class CandidateOut(BaseModel):
    """One object a rule is judging: how far it is from an incident (``progress`` of ``needed``)."""

    event_type: str
    zone_id: str
    track_id: int
    class_name: str
    box: list[float] = Field(description="x1, y1, x2, y2 normalised to 0..1 of the frame")
    score: float = Field(description="median detection score so far")
    progress: float = Field(description="seconds stood still (unit s) or hits in the window (unit hits)")
    needed: float = Field(description="what opens an incident: the rule's min_dwell_s or confirm_hits")
    unit: Literal["s", "hits"]
    incident_id: str | None = Field(None, description="set when it is already an open incident")


class PreviewOut(BaseModel):
    source_id: str
    width: int
    height: int
    time_s: float = Field(description="media time of the frame")
    wall_time: float = Field(description="unix time the frame was analysed")
    detections: list[DetectionOut]
    candidates: list[CandidateOut]


class FrameView(Protocol):
    def snapshot(self, source_id: str, max_width: int | None) -> SnapshotImage | None:
        """The latest analysed frame as JPEG, scaled down to ``max_width`` when wider; None: no frame yet."""

    def preview(self, source_id: str) -> PreviewOut | None:
        """Detections and rule candidates of the latest analysed frame; None: no frame yet."""

    def keep(self, source_id: str, frame_id: str, jpeg: bytes) -> None:
        """Hold a full-size snapshot just served for a short while (bounded: `api.served_frames`)."""

    def kept(self, source_id: str, frame_id: str) -> bytes | None:
        """The JPEG served as ``frame_id``, while it is held; None: never served, or no longer held."""


def frame_router(view: FrameView, known: Callable[[str], bool]) -> APIRouter:
    """``known(source_id)``: the camera exists (a record), so a missing frame is told apart from a wrong id."""
    router = APIRouter(prefix="/api/v1/sources", tags=["sources"])
    read = [Depends(require("sources:read"))]
    missing = {404: {"description": "unknown camera, or no analysed frame yet"}}

    def not_found(source_id: str) -> HTTPException:
        return HTTPException(404, f"source {source_id!r} has no analysed frame yet "
                                  "(starting, disabled, not streaming, or its worker has not published one)")

    def require_known(source_id: str) -> None:
        """Asked first: a deleted camera's last frame (kept in Redis until it expires) is not served."""
        if not known(source_id):
            raise HTTPException(404, f"source {source_id!r} not found")

    @router.get("/{source_id}/snapshot", dependencies=read, response_class=Response,
                responses={200: {"content": {"image/jpeg": {}}}, **missing})
    def snapshot(source_id: str, width: Annotated[int | None, Query(
            ge=16, le=SNAPSHOT_MAX_WIDTH, description="scale down to this width (e.g. 320 for thumbnails)")] = None,
                 ) -> Response:
        """The camera's latest analysed frame as JPEG; ``X-Frame-Time`` is when it was analysed (unix s). At full
        size (no ``width``) ``X-Frame-Id`` names it: a box drawn on it is cut from this very picture when the
        example's POST gives that ``frame`` (held a couple of minutes, see `api.served_frames`)."""
        require_known(source_id)
        image = view.snapshot(source_id, width)
        if image is None:
            raise not_found(source_id)
        headers = {"Cache-Control": "no-store", "X-Frame-Time": f"{image.wall_time:.3f}"}
        if width is None:
            headers["X-Frame-Id"] = frame_id_of(image.wall_time)
            view.keep(source_id, headers["X-Frame-Id"], image.jpeg)
        return Response(image.jpeg, media_type="image/jpeg", headers=headers)

    @router.get("/{source_id}/preview", dependencies=read, response_model=PreviewOut, responses=missing)
    def preview(source_id: str, response: Response) -> PreviewOut:
        """What the detector sees on the latest frame and what each rule judges, with the dwell so far."""
        require_known(source_id)
        out = view.preview(source_id)
        if out is None:
            raise not_found(source_id)
        response.headers["Cache-Control"] = "no-store"
        return out

    return router
