"""``/api/v1/sources/{id}/examples``: teach a camera by example (issue 14).

A reviewer draws a box on the camera's snapshot and names what it is: ``POST`` with ``event_type``, ``box``
``[x1, y1, x2, y2]`` normalised to the snapshot, ``label`` ``positive`` | ``negative`` and ``frame``, the snapshot's
``X-Frame-Id``. Or marks an incident of the camera as an example (``incident_id`` instead of ``box``): its stored
crop embedding and box are taken, so a bin judged full wrongly becomes a "not full" example without a new snapshot.
The wiring's `ExampleCutter` crops the box from the snapshot named (without ``frame``: the camera's latest analysed
frame, for API clients) and embeds it; the example is stored and the running rules of that camera use it within
seconds. ``GET`` lists them (with a thumbnail link), ``DELETE``
forgets one.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field, field_validator, model_validator

from .auth import Principal, require
from .embeddings import StoredEmbedding, encode_vector_bytes
from .examples import CutExample, ExampleStore, Label, StoredExample
from .served_frames import KEEP_S, PER_CAMERA

Box = tuple[float, float, float, float]
MIN_BOX = 0.005  # a box thinner than this fraction of the snapshot is a slip of the mouse, not an object


class NoFrame(LookupError):
    """The camera has no analysed frame yet (or is not running here)."""


class FrameGone(LookupError):
    """The snapshot named by ``frame`` was never served, or is no longer held: the box must not be cut from another
    picture than the one it was drawn on."""


Reviewer = Annotated[Principal, Depends(require("incidents:review"))]
ExampleCutter = Callable[[str, Box, str | None], CutExample]  # (source, normalised box, frame id) -> the vectors


class ExampleIn(BaseModel):
    event_type: str = Field(description="the event type the box shows (or does not show, for a negative)")
    box: list[float] | None = Field(None, description="[x1, y1, x2, y2], normalised to the snapshot "
                                    "(0..1)", examples=[[0.4, 0.13, 0.99, 0.77]])
    frame: str | None = Field(None, pattern=r"^[0-9]{1,20}$",
                              description="the snapshot the box was drawn on (its X-Frame-Id header): the box is cut "
                              "from that picture; without it, from the camera's latest frame")
    incident_id: str | None = Field(None, description="instead of a box: this incident of the camera (its object)")
    label: Label = "positive"

    @model_validator(mode="after")
    def _one_of(self) -> "ExampleIn":
        if (self.box is None) == (self.incident_id is None):
            raise ValueError("box: give either a box drawn on the snapshot or an incident_id")
        if self.frame is not None and self.box is None:
            raise ValueError("frame: names the snapshot a box was drawn on; an incident_id needs none")
        return self

    @field_validator("box")
    @classmethod
    def _box(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return v
        if len(v) != 4:
            raise ValueError("box must be [x1, y1, x2, y2]")
        if any(not 0.0 <= x <= 1.0 for x in v):
            raise ValueError("box coordinates must be within 0..1 (normalised to the snapshot)")
        x1, y1, x2, y2 = v
        if x2 - x1 < MIN_BOX or y2 - y1 < MIN_BOX:
            raise ValueError(f"box must have x2 > x1 and y2 > y1 by at least {MIN_BOX}")
        return v


class ExampleOut(BaseModel):
    id: str
    source: str
    event_type: str
    label: Label
    box: list[float]
    frame_size: list[int]
    model: str
    created_by: str | None
    created_at: datetime
    thumbnail_url: str | None = Field(description="JPEG of the drawn crop; null for an example made from an incident "
                                                  "(its evidence shows the crop)")


def _out(e: StoredExample) -> ExampleOut:
    thumbnail = f"/api/v1/sources/{e.source}/examples/{e.id}/thumbnail" if e.has_thumbnail else None
    return ExampleOut(id=e.id, source=e.source, event_type=e.event_type, label=e.label, box=list(e.box),
                      frame_size=list(e.frame_size), model=e.model, created_by=e.created_by, created_at=e.created_at,
                      thumbnail_url=thumbnail)


def examples_router(store: ExampleStore, cut: ExampleCutter, event_types: Sequence[str],
                    source_exists: Callable[[str], bool],
                    incident_embedding: Callable[[str], StoredEmbedding | None] | None = None) -> APIRouter:
    """``incident_embedding(id)``: an incident's stored vectors (the repository's ``embedding``)."""
    router = APIRouter(prefix="/api/v1/sources/{source_id}/examples", tags=["examples"])
    read = [Depends(require("sources:read"))]

    def known(source_id: str) -> None:
        if not source_exists(source_id):
            raise HTTPException(404, f"source {source_id!r} not found")

    @router.post("", response_model=ExampleOut, status_code=201)
    def add_example(source_id: str, body: ExampleIn, principal: Reviewer) -> ExampleOut:
        """Crop ``box`` from the snapshot ``frame`` (else the camera's latest frame), embed it and keep it as an
        example of ``event_type``."""
        known(source_id)
        if body.event_type not in event_types:
            raise HTTPException(422, f"event_type: {body.event_type!r} is not one of {', '.join(event_types)}")
        if body.incident_id is not None:
            box, cutout = from_incident(source_id, body.incident_id)
        else:
            assert body.box is not None
            box = (body.box[0], body.box[1], body.box[2], body.box[3])
            try:
                cutout = cut(source_id, box, body.frame)
            except NoFrame as exc:
                raise HTTPException(404, str(exc)) from None
            except FrameGone:
                raise HTTPException(409, f"frame: snapshot {body.frame!r} of source {source_id!r} is not held (never "
                                         f"served, or older than {KEEP_S:.0f} s or than the camera's last {PER_CAMERA} "
                                         "snapshots): reload the snapshot and draw the box again") from None
        return _out(store.add(source_id, body.event_type, body.label, box, cutout, principal.username))

    def from_incident(source_id: str, incident_id: str) -> tuple[Box, CutExample]:
        record = incident_embedding(incident_id) if incident_embedding is not None else None
        if record is None or record.source != source_id:
            raise HTTPException(422, f"incident_id: {incident_id!r} is no incident of source {source_id!r} with "
                                     "a stored crop embedding")
        w, h = record.frame_size
        x1, y1, x2, y2 = record.box
        return (x1 / w, y1 / h, x2 / w, y2 / h), CutExample(
            crop=encode_vector_bytes(record.crop), model=record.model, dim=int(record.crop.shape[0]),
            frame_size=(w, h), thumbnail=None)

    @router.get("", response_model=list[ExampleOut], dependencies=read)
    def list_examples(source_id: str) -> list[ExampleOut]:
        known(source_id)
        return [_out(e) for e in store.list(source_id)]

    @router.get("/{example_id}/thumbnail", dependencies=read, response_class=Response,
                responses={200: {"content": {"image/jpeg": {}}}})
    def example_thumbnail(source_id: str, example_id: str) -> Response:
        data = store.thumbnail(source_id, example_id)
        if data is None:
            raise HTTPException(404, f"example {example_id!r} of source {source_id!r} not found (or no thumbnail)")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @router.delete("/{example_id}", status_code=204)
    def delete_example(source_id: str, example_id: str, principal: Reviewer) -> Response:
        if not store.delete(source_id, example_id, principal.username):
            raise HTTPException(404, f"example {example_id!r} of source {source_id!r} not found")
        return Response(status_code=204)

    return router
