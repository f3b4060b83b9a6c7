"""The operator console's summaries: ``GET /api/v1/wall`` (every camera with its state and last incident, in
one answer the camera wall polls, not a request per tile) and ``GET /api/v1/map`` (cameras, open incidents
and open cases by lng/lat, and the configured tile layer).

Cameras are the records (``app.state.source_catalog``) with their live health merged in, or, without records,
what the wiring's health provider lists. URLs never leave here; error texts are masked.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from streams.urls import mask_credentials

from .auth import Principal, require
from .cases import CaseService
from .db import CaseRecord, IncidentRecord
from .incident_stats import confirm_rate_flags, recent_review_counts
from .settings import UiSettings

HealthProvider = Callable[[], list[dict[str, Any]]]
CAMERA_FIELDS = ("id", "name", "kind", "address", "lng", "lat", "grid", "area")
OPEN_CASE = ("manual", "queued", "dispatched", "accepted", "handled", "verified", "reopened")


class LastIncident(BaseModel):
    id: str
    type: str
    status: str
    detected_wall: datetime


class RateFlag(BaseModel):
    type: str
    reviewed: int
    confirm_rate: float


class WallCamera(BaseModel):
    id: str
    name: str | None = None
    kind: str | None = None
    address: str | None = None
    lng: float | None = None
    lat: float | None = None
    grid: str | None = None
    area: str | None = None
    enabled: bool = True
    state: str = Field(description="streaming, connecting, stalled, backing_off, failed, stopped, ended, "
                       "starting (not reported yet), disabled, unassigned (no worker)")
    state_since: float | None = None
    reason: str | None = Field(None, description="the last error (masked), shown when not streaming")
    decoder: str | None = None
    analysed_fps: float | None = None
    worker: str | None = None
    last_incident: LastIncident | None = None
    flags: list[RateFlag] = Field(default_factory=list, description="types whose confirm rate is below the floor")


class WallOut(BaseModel):
    generated_at: datetime
    confirm_rate_floor: float | None
    cameras: list[WallCamera]
    states: dict[str, int]


class MapPoint(BaseModel):
    id: str
    kind: str = Field(description="camera, incident or case")
    lng: float
    lat: float
    label: str
    type: str | None = Field(None, description="the event type (incident, case) or camera kind")
    state: str = Field(description="camera state, incident status, case status")
    source: str | None = None
    area: str | None = None
    grid: str | None = None
    at: datetime | None = None


class TileLayer(BaseModel):
    url: str
    attribution: str
    min_zoom: int
    max_zoom: int


class MapOut(BaseModel):
    tiles: TileLayer | None = Field(description="null: no tile service configured, a plain lng/lat plot")
    cameras: list[MapPoint]
    incidents: list[MapPoint]
    cases: list[MapPoint]
    unplaced_cameras: int = Field(description="cameras without lng/lat")


def console_router(health: HealthProvider | None) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["console"])

    def cameras(request: Request) -> list[dict[str, Any]]:
        """Each camera's place and live state, records first (URLs left out)."""
        live = {h["id"]: mask_credentials(h) for h in (health() if health is not None else []) if "id" in h}
        catalog = getattr(request.app.state, "source_catalog", None)
        bodies = catalog.list() if catalog is not None else [{"id": sid} for sid in live]
        out = []
        for body in bodies:
            h = live.get(body["id"], {})
            enabled = bool(body.get("enabled", True))
            camera = {k: body.get(k, h.get(k)) for k in CAMERA_FIELDS}
            state = h.get("state") or ("disabled" if not enabled else "starting")
            camera.update(enabled=enabled, state=state, state_since=h.get("state_since"), decoder=h.get("decoder"),
                          analysed_fps=h.get("analysed_fps"), worker=h.get("worker"),
                          reason=h.get("last_error") if state != "streaming" else None)
            out.append(camera)
        return out

    @router.get("/wall", response_model=WallOut)
    def wall(request: Request, principal: Annotated[Principal, Depends(require("sources:read"))]) -> WallOut:
        """Every camera for the camera wall in one answer: place, state (and why when not streaming),
        decoder, analysed fps, worker, last incident, and the event types whose confirm rate over the last
        ``ui.confirm_rate_days`` is below ``ui.confirm_rate_floor``. Thumbnails come from
        ``/api/v1/sources/{id}/snapshot``, fetched by the page for the visible tiles only."""
        ui: UiSettings = request.app.state.settings.ui
        rows = cameras(request)
        cases: CaseService = request.app.state.cases
        may_read_incidents = principal.may("incidents:read")
        with cases.session() as s:
            last = last_incidents(s) if may_read_incidents else {}
            flags = _flags_by_camera(s, ui) if may_read_incidents else {}
        states: dict[str, int] = defaultdict(int)
        for row in rows:
            states[row["state"]] += 1
            row["last_incident"] = last.get(row["id"])
            row["flags"] = flags.get(row["id"], [])
        return WallOut(generated_at=datetime.now(timezone.utc), confirm_rate_floor=ui.confirm_rate_floor,
                       cameras=[WallCamera.model_validate(r) for r in rows], states=dict(states))

    @router.get("/map", response_model=MapOut)
    def city_map(
        request: Request,
        principal: Annotated[Principal, Depends(require("sources:read"))],
        limit: Annotated[int, Query(ge=1, le=5000, description="most incidents and cases each, newest first")]
        = 1000,
    ) -> MapOut:
        """一张图: cameras, open incidents (pending review, or still going on) and open cases placed by
        lng/lat (a moving camera's incident at its reported position), with the tile layer to draw them on."""
        ui: UiSettings = request.app.state.settings.ui
        rows = cameras(request)
        placed = [r for r in rows if r["lng"] is not None and r["lat"] is not None]
        camera_points = [MapPoint(id=r["id"], kind="camera", lng=r["lng"], lat=r["lat"], label=r["name"] or r["id"],
                                  type=r["kind"], state=r["state"], source=r["id"], area=r["area"], grid=r["grid"])
                         for r in placed]
        cases: CaseService = request.app.state.cases
        incidents: list[MapPoint] = []
        case_points: list[MapPoint] = []
        with cases.session() as s:
            if principal.may("incidents:read"):
                incidents = open_incident_points(s, cases, limit)
            if principal.may("cases:read"):
                case_points = open_case_points(s, limit)
        tiles = None
        if ui.map.tile_url:
            tiles = TileLayer(url=ui.map.tile_url, attribution=ui.map.attribution, min_zoom=ui.map.min_zoom,
                              max_zoom=ui.map.max_zoom)
        return MapOut(tiles=tiles, cameras=camera_points, incidents=incidents, cases=case_points,
                      unplaced_cameras=len(rows) - len(placed))

    return router


def last_incidents(s: Session) -> dict[str, dict[str, Any]]:
    """Per camera, its newest incident (one grouped query and one lookup)."""
    newest = select(IncidentRecord.source, func.max(IncidentRecord.detected_wall).label("at")) \
        .group_by(IncidentRecord.source).subquery()
    rows = s.execute(select(IncidentRecord.id, IncidentRecord.source, IncidentRecord.type, IncidentRecord.status,
                            IncidentRecord.detected_wall)
                     .join(newest, (newest.c.source == IncidentRecord.source)
                           & (newest.c.at == IncidentRecord.detected_wall)))
    return {r.source: {"id": r.id, "type": r.type, "status": r.status, "detected_wall": r.detected_wall}
            for r in rows}


def _flags_by_camera(s: Session, ui: UiSettings) -> dict[str, list[dict[str, Any]]]:
    if ui.confirm_rate_floor is None:
        return {}
    since = datetime.now(timezone.utc) - timedelta(days=ui.confirm_rate_days)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in confirm_rate_flags(recent_review_counts(s, since), ui.confirm_rate_floor, ui.confirm_rate_min_reviews):
        out[f.camera].append({"type": f.type, "reviewed": f.reviewed, "confirm_rate": f.confirm_rate})
    return out


def open_incident_points(s: Session, cases: CaseService, limit: int) -> list[MapPoint]:
    records = s.scalars(select(IncidentRecord)
                        .where((IncidentRecord.status == "pending") | IncidentRecord.ended_at.is_(None))
                        .where(IncidentRecord.status != "rejected")
                        .order_by(IncidentRecord.detected_wall.desc()).limit(limit))
    points = []
    for r in records:
        place = cases.incident_place(r)
        if place.lng is None or place.lat is None:
            continue
        points.append(MapPoint(id=r.id, kind="incident", lng=place.lng, lat=place.lat, label=r.type, type=r.type,
                               state=r.status, source=r.source, area=place.area, grid=place.grid,
                               at=r.detected_wall))
    return points


def open_case_points(s: Session, limit: int) -> list[MapPoint]:
    records = s.scalars(select(CaseRecord).where(CaseRecord.status.in_(OPEN_CASE), CaseRecord.lng.is_not(None),
                                                 CaseRecord.lat.is_not(None))
                        .order_by(CaseRecord.created_at.desc()).limit(limit))
    return [MapPoint(id=str(c.id), kind="case", lng=c.lng, lat=c.lat, label=c.number, type=c.type,  # type: ignore[arg-type]
                     state=c.status, source=c.source, area=c.area, grid=c.grid, at=c.occurred_at) for c in records]
