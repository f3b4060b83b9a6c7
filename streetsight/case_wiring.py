"""Wires the API's cases, dispatch and access to the rest: settings and camera places from the config,
the taxonomy for corrected types, evidence protection and links from the evidence backend, and the
first admin account."""
from __future__ import annotations

import logging
import sys
from typing import Any
from urllib.parse import urlsplit

from api.settings import ApiSettings, HttpSettings, SourceInfo
from streetsight import event_types
from streetsight.config import Config

log = logging.getLogger(__name__)


def api_settings(cfg: Config) -> ApiSettings:
    cases = cfg.cases
    if "timezone" not in cases.model_fields_set:  # one zone for the deployment unless cases say otherwise
        cases = cases.model_copy(update={"timezone": cfg.timezone})
    return ApiSettings(auth=cfg.auth, cases=cases, dispatch=cfg.dispatch, http=http_settings(cfg), ui=cfg.ui)


def http_settings(cfg: Config) -> HttpSettings:
    """The ``api:`` limits, and the evidence origins the review page's CSP must allow (S3, a public URL)."""
    origins = list(cfg.api.media_origins)
    s3 = cfg.storage.s3 if cfg.storage.backend == "s3" else None
    if s3 is not None:
        origins.append(f"{'https' if s3.secure else 'http'}://{s3.public_endpoint or s3.endpoint}")
    parts = urlsplit(cfg.storage.public_url)
    if parts.scheme in ("http", "https") and parts.netloc:
        origins.append(f"{parts.scheme}://{parts.netloc}")
    tiles = cfg.ui.map.tile_origin()  # the map page's base layer
    if tiles is not None:
        origins.append(tiles)
    fields = cfg.api.model_dump(include=set(HttpSettings.model_fields))
    return HttpSettings.model_validate({**fields, "media_origins": list(dict.fromkeys(origins))})


def source_places(cfg: Config) -> dict[str, SourceInfo]:
    return {s.id: SourceInfo(address=s.address, lng=s.lng, lat=s.lat, grid=s.grid, area=s.area)
            for s in cfg.sources}


def event_type_labels(cfg: Config) -> dict[str, dict[str, Any]]:
    """Every registered event type with its configured labels, for the pages (``create_app(event_types=)``)."""
    return {name: cfg.taxonomy.for_type(name).model_dump() for name in event_types.names()}


def case_app_kwargs(cfg: Config, rt: Any) -> dict[str, Any]:
    """Keyword arguments for ``create_app`` from the config and the runtime (``streetsight.runtime.Runtime``)."""

    def event_labels(event_type: str) -> dict[str, Any] | None:
        return cfg.taxonomy.for_type(event_type).model_dump() if event_type in event_types.names() else None

    kwargs: dict[str, Any] = {"settings": api_settings(cfg), "source_info": source_places(cfg),
                              "event_labels": event_labels, "event_types": event_type_labels(cfg)}
    evidence = getattr(rt, "evidence", None)
    if evidence is not None:
        expiry = cfg.cases.presign_expiry_s
        sharers: list[Any] = []

        def protect_evidence(incident_id: str) -> None:
            keys = rt.repository.evidence_keys(incident_id)
            if keys:
                evidence.protect(keys)

        def evidence_linker(incident_id: str, kind: str, key: str) -> Any:
            if not sharers:  # made on first use: blurring needs the person detector
                find_people = None
                if evidence.blur_faces_in_shared:
                    from streetsight.evidence_backend import people_finder

                    find_people = people_finder(rt.detector)
                sharers.append(evidence.sharer(find_people))
            return sharers[0].share(key, expiry)

        kwargs.update(protect_evidence=protect_evidence, evidence_linker=evidence_linker)
    return kwargs


def bootstrap_admin(app: Any) -> None:
    """With no user in the database, create ``admin`` (password from $STREETSIGHT_ADMIN_PASSWORD, else a
    generated one, shown here once)."""
    password = app.state.auth.ensure_admin()
    if password:
        print(f"StreetSight: created user 'admin' with password {password} (shown once; change it with "
              f"`streetsight users add admin --role admin --update`)", file=sys.stderr, flush=True)
