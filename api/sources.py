"""Routes about sources that need the live pipeline: position reports of moving (enforcement) cameras.

The API imports no stream code: the wiring passes ``position_sink(source_id, lng, lat, timestamp)``,
which raises ``LookupError`` for an unknown source and ``ValueError`` for one that takes no positions.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.params import Depends
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

PositionSink = Callable[[str, float, float, float], Any]


class PositionSinkUnavailable(RuntimeError):
    """The sink cannot take the report now (e.g. the bus to the workers is down): answered with 503."""


class PositionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lng: float = Field(ge=-180, le=180, description="longitude, degrees (WGS-84 or the city's datum)")
    lat: float = Field(ge=-90, le=90, description="latitude, degrees")
    timestamp: AwareDatetime = Field(
        description="when the device was there: unix seconds, or ISO 8601 with a time zone")


class PositionOut(BaseModel):
    source_id: str
    lng: float
    lat: float
    timestamp: float = Field(description="unix seconds")


def sources_router(position_sink: PositionSink | None, dependencies: Sequence[Depends] = ()) -> APIRouter:
    router = APIRouter(tags=["sources"], dependencies=list(dependencies))

    @router.post(
        "/api/v1/sources/{source_id}/position",
        response_model=PositionOut,
        responses={404: {"description": "unknown source"},
                   409: {"description": "a fixed camera: it takes no position reports"},
                   503: {"description": "no live pipeline runs in this process, or the bus to it is down"}},
    )
    def report_position(source_id: str, body: PositionIn) -> PositionOut:
        """A moving camera's position; every analysed frame of the source then carries the report
        nearest in time to when the frame arrived."""
        if position_sink is None:
            raise HTTPException(503, "no live pipeline runs in this process: position reports go to the worker")
        timestamp = body.timestamp.timestamp()
        try:
            position_sink(source_id, body.lng, body.lat, timestamp)
        except LookupError:
            raise HTTPException(404, f"source {source_id!r} not found") from None
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        except PositionSinkUnavailable as exc:
            raise HTTPException(503, str(exc)) from None
        return PositionOut(source_id=source_id, lng=body.lng, lat=body.lat, timestamp=timestamp)

    return router
