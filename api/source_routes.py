"""``/api/v1/sources``: the camera records (`api.source_catalog`), read by every role, written by admins.

A body is the YAML's source entry as JSON (``id, url, kind, name, address, lng, lat, grid, area, analysis_fps,
zones, rules, enabled``), checked by the config's own models: a bad field is a 422 naming it. URLs come back
masked; a PUT with the masked URL keeps the stored password. Each camera's live health (state, fps, decoder,
last error), when the wiring has it, is merged into its record.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from streams.urls import mask_credentials

from .auth import Principal, require
from .settings import SourceInfo
from .source_catalog import (SourceBody, SourceCatalog, SourceExists, SourceInvalid, SourceNotFound,
                             masked_body)

HealthProvider = Callable[[], list[dict[str, Any]]]

_BODY_EXAMPLE = {
    "id": "cam-017", "url": "rtsp://admin:secret@10.0.0.17/h264", "kind": "cctv", "name": "人民路口东",
    "address": "人民路 12 号", "lng": 120.15, "lat": 30.28, "grid": "G-0102", "area": "west",
    "analysis_fps": 2, "enabled": True,
    "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": [[0.1, 0.5], [0.9, 0.5], [0.9, 1], [0.1, 1]],
               "rules": {"illegal_parking": {"min_dwell_s": 120}}}],
}
SourceIn = Annotated[dict[str, Any], Body(examples=[_BODY_EXAMPLE])]
Writer = Annotated[Principal, Depends(require("sources:write"))]
# what GET adds to a record from the camera's live health: read-only, ignored when a body sent back holds it
LIVE_FIELDS = frozenset({
    "source_id", "state", "state_since", "input_fps", "analysed_fps", "last_frame_media_s", "last_frame_wall",
    "reconnects", "connect_attempts", "last_error", "last_error_wall", "next_retry_wall", "packets",
    "decoded_frames", "analysed_frames", "dropped_frames", "decoder", "frames_analysed", "worker",
})


def without_live_fields(body: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    read_only = LIVE_FIELDS | (set(live or ()) - {"id", "kind", "url"})
    return {k: v for k, v in body.items() if k not in read_only}


def place_of(body: SourceBody) -> SourceInfo:
    return SourceInfo(address=body.get("address"), lng=body.get("lng"), lat=body.get("lat"), grid=body.get("grid"),
                      area=body.get("area"))


def source_records_router(catalog: SourceCatalog, health: HealthProvider | None,
                          places: dict[str, SourceInfo]) -> APIRouter:
    """``places`` (the cameras' places that cases copy) is kept in step with the records."""
    router = APIRouter(prefix="/api/v1/sources", tags=["sources"])
    read = [Depends(require("sources:read"))]

    def out(body: SourceBody, live: dict[str, Any] | None) -> dict[str, Any]:
        shown = masked_body(body)
        shown.setdefault("enabled", True)
        if live is not None:
            shown.update(mask_credentials({k: v for k, v in live.items() if k not in ("id", "url")}))
        else:
            shown["state"] = "disabled" if not shown["enabled"] else "starting"
        return shown

    def live_by_id() -> dict[str, dict[str, Any]]:
        return {h["id"]: h for h in (health() if health is not None else []) if "id" in h}

    def invalid(exc: ValidationError | SourceInvalid) -> RequestValidationError:
        """422 naming the field as the config does (``zones[0].polygon: ...``); inputs are masked (a
        model-level error would otherwise echo the whole body, URL included)."""
        if isinstance(exc, SourceInvalid):
            errors = [{"type": "value_error", "loc": ("body", *exc.loc), "msg": f"{_path(exc.loc)}: {exc.message}"}]
        else:
            errors = [{"type": e["type"], "loc": ("body", *e["loc"]),
                       "msg": f"{_path(e['loc'])}: {e['msg'].removeprefix('Value error, ')}",
                       "input": mask_credentials(masked_body(e["input"]) if isinstance(e.get("input"), dict)
                                                 else e.get("input"))}
                      for e in exc.errors()]
        return RequestValidationError(errors)

    @router.get("", dependencies=read)
    def list_sources() -> list[dict[str, Any]]:
        """Every camera record (URL masked) with its live state where it runs."""
        live = live_by_id()
        return [out(body, live.get(body["id"])) for body in catalog.list()]

    @router.get("/{source_id}", dependencies=read, responses={404: {"description": "unknown source"}})
    def get_source(source_id: str) -> dict[str, Any]:
        body = catalog.get(source_id)
        if body is None:
            raise HTTPException(404, f"source {source_id!r} not found")
        return out(body, live_by_id().get(source_id))

    @router.post("", status_code=201, responses={409: {"description": "the id exists"}, 422: {}})
    def create_source(body: SourceIn, principal: Writer, response: Response) -> dict[str, Any]:
        """Add a camera; it starts streaming and is analysed without a restart."""
        try:
            stored = catalog.create(without_live_fields(body, None), principal.username)
        except (ValidationError, SourceInvalid) as exc:
            raise invalid(exc) from None
        except SourceExists as exc:
            raise HTTPException(409, str(exc)) from None
        places[stored["id"]] = place_of(stored)
        response.headers["Location"] = f"/api/v1/sources/{stored['id']}"
        return out(stored, None)

    @router.put("/{source_id}", responses={404: {"description": "unknown source"}, 422: {}})
    def replace_source(source_id: str, body: SourceIn, principal: Writer) -> dict[str, Any]:
        """Replace a camera's whole body (the id is the path's; a body naming another id is a 422). A URL
        with its password masked (``user:***@``), as GET shows it, keeps the stored password; the live fields
        GET adds (state, fps...) may be sent back and are ignored. Zones and rules
        apply from the next analysed frame; open incidents of a removed zone end (``zone_removed``)."""
        if "id" in body and body["id"] != source_id:
            raise invalid(SourceInvalid(("id",), f"{body['id']!r} differs from the path's {source_id!r}; "
                                                 "a camera's id cannot change (delete and add it)"))
        try:
            stored = catalog.replace(source_id, without_live_fields(body, live_by_id().get(source_id)),
                                     principal.username)
        except (ValidationError, SourceInvalid) as exc:
            raise invalid(exc) from None
        except SourceNotFound:
            raise HTTPException(404, f"source {source_id!r} not found") from None
        places[source_id] = place_of(stored)
        return out(stored, live_by_id().get(source_id))

    @router.delete("/{source_id}", status_code=204, responses={404: {"description": "unknown source"}})
    def delete_source(source_id: str, principal: Writer) -> Response:
        """Stop and forget a camera; its open incidents end (``source_removed``). Its incidents stay."""
        try:
            catalog.delete(source_id, principal.username)
        except SourceNotFound:
            raise HTTPException(404, f"source {source_id!r} not found") from None
        places.pop(source_id, None)
        return Response(status_code=204)

    return router


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<body>"


def attach_source_records(app: Any, catalog: SourceCatalog, health: HealthProvider | None,
                          places: dict[str, SourceInfo]) -> None:
    for body in catalog.list():
        places[body["id"]] = place_of(body)
    app.state.source_catalog = catalog
    app.state.source_places = places  # the wiring keeps it current for changes made by other processes
    app.include_router(source_records_router(catalog, health, places))
