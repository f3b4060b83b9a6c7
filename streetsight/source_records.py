"""Camera records wired to the config and the live pipeline.

- `validate_source_body`: the API's validator, the config's own ``SourceConfig`` (same field-named errors);
  ``${ENV}`` references stay in the record and must name a set variable.
- `open_source_catalog`: the records of a deployment; the YAML's sources are imported on the first start.
- `running_sources`: the enabled records as ``SourceConfig`` (references resolved) for the pipeline.
- `LiveSourceSync`: applies each committed change to a running `LivePipeline`, one at a time in its own
  thread (stopping a reader can take its read timeout; an API request does not wait for it).
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from api.settings import SourceInfo
from api.source_catalog import SourceBody, SourceCatalog, SourceInvalid
from api.source_routes import place_of
from detectors.incidents import IncidentEvent
from streams.urls import mask_text
from streetsight.config import Config, ConfigError, SourceConfig, env_references, parse_source

log = logging.getLogger(__name__)

# why open incidents end when an operator changes their camera
ZONE_REMOVED, SOURCE_REMOVED, SOURCE_DISABLED = "zone_removed", "source_removed", "source_disabled"


def validate_source_body(body: Any) -> SourceBody:
    """Raises pydantic's ValidationError or SourceInvalid (naming the field); returns only the fields given,
    as JSON (so rule overrides keep meaning "only what is set")."""
    import os

    if not isinstance(body, dict):
        raise SourceInvalid((), f"a source is a JSON object, got {type(body).__name__}")
    model = SourceConfig.model_validate(body)
    if model.model:  # the camera's own model must exist before a worker tries to load it
        from models.registry import ModelNotFound, find_model

        try:
            find_model(model.model)
        except ModelNotFound as exc:
            raise SourceInvalid(("model",), f"no registered model {model.model!r} ({exc})") from None
    for field, name in env_references(body):
        if name not in os.environ:
            raise SourceInvalid(tuple(_split_path(field)), f"environment variable {name} is not set")
    return model.model_dump(mode="json", exclude_unset=True)


def _split_path(path: str) -> list[str | int]:
    out: list[str | int] = []
    for part in path.replace("[", ".[").split("."):
        if part.startswith("[") and part.endswith("]"):
            out.append(int(part[1:-1]))
        elif part:
            out.append(part)
    return out


def config_bodies(cfg: Config) -> list[SourceBody]:
    """The YAML's sources as record bodies: the fields the file gave, URLs as written (``${ENV}`` kept)."""
    bodies = []
    for src in cfg.sources:
        body = src.model_dump(mode="json", exclude_unset=True)
        if src.id in cfg.raw_urls:
            body["url"] = cfg.raw_urls[src.id]
        bodies.append(body)
    return bodies


def open_source_catalog(cfg: Config, sessions: sessionmaker[Session]) -> SourceCatalog:
    catalog = SourceCatalog(sessions, validate_source_body)
    if not catalog.seeded():
        catalog.seed(config_bodies(cfg))
    else:
        stored = {b["id"] for b in catalog.list()}
        unknown = [s.id for s in cfg.sources if s.id not in stored]
        if unknown:
            log.warning("sources %s are in the config but not in the records (the records rule after the first "
                        "start; add them with `streetsight sources import`)", ", ".join(unknown))
    return catalog


def resolve(body: SourceBody) -> SourceConfig:
    return parse_source(body, origin=f"source {body.get('id')!r}")


def running_sources(catalog: SourceCatalog) -> list[SourceConfig]:
    """Every enabled record; one that no longer resolves (an unset variable) is left out with an error."""
    out = []
    for body in catalog.list():
        if not body.get("enabled", True):
            continue
        try:
            out.append(resolve(body))
        except ConfigError as exc:
            log.error("not started: %s", mask_text(str(exc)))
    return out


def described(bodies: list[SourceBody]) -> list[SourceConfig]:
    """Enabled records as SourceConfig without resolving ``${ENV}`` (for processes that read no camera)."""
    out = []
    for body in bodies:
        if body.get("enabled", True):
            try:
                out.append(SourceConfig.model_validate(body))
            except ValueError as exc:
                log.error("source %s: stored record is not valid: %s", body.get("id"), mask_text(str(exc)))
    return out


class LiveSourceSync:
    """Applies camera record changes to a running pipeline: an added or enabled camera starts, a disabled or
    deleted one stops (its open incidents end with a reason), an edited one is replaced by its new version,
    which continues the open incidents of zones it still has; those of removed zones end (``zone_removed``).

    Changes made in this process arrive as `SourceCatalog` listener calls; those made elsewhere (the
    ``sources import`` CLI, another API process) are found by reading the catalog's version every
    ``poll_s``. Either way a record is applied only when it differs from what runs."""

    def __init__(self, pipeline: Any, catalog: SourceCatalog, poll_s: float = 5.0,
                 places: dict[str, SourceInfo] | None = None) -> None:
        self.pipeline = pipeline  # a streetsight.pipeline.LivePipeline
        self.catalog = catalog
        self.poll_s = poll_s
        self.places = places  # the API's camera places (cases copy them), when it runs in this process
        self._version = catalog.version()
        self._known = {b["id"]: b for b in catalog.list()}  # the records the pipeline runs
        self._changes: queue.Queue[tuple[str, SourceBody | None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="source-sync", daemon=True)
        self.applied = 0  # changes applied

    def start(self) -> "LiveSourceSync":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._changes.put(None)
        self._thread.join(timeout=30)

    def __call__(self, source_id: str, before: SourceBody | None, after: SourceBody | None) -> None:
        self._changes.put((source_id, after))

    def _run(self) -> None:
        while not self.pipeline.stopped:  # ends with the pipeline
            try:
                change = self._changes.get(timeout=self.poll_s)
            except queue.Empty:
                self._poll()
                continue
            if change is None:
                return
            self._apply_if_changed(*change)

    def _poll(self) -> None:
        try:
            version = self.catalog.version()
            if version == self._version:
                return
            current = {b["id"]: b for b in self.catalog.list()}
        except Exception as exc:  # the database is away: try again at the next poll
            log.warning("sources: cannot read the records: %s", mask_text(str(exc)))
            return
        self._version = version
        for source_id in sorted(set(self._known) | set(current)):
            self._apply_if_changed(source_id, current.get(source_id))

    def _apply_if_changed(self, source_id: str, after: SourceBody | None) -> None:
        before = self._known.get(source_id)
        if before == after:
            return
        try:
            self.apply(source_id, before, after)
        except Exception:
            log.exception("source %s: applying the change failed", source_id)
        if after is None:
            self._known.pop(source_id, None)
        else:
            self._known[source_id] = after
        if self.places is not None:
            if after is None:
                self.places.pop(source_id, None)
            else:
                self.places[source_id] = place_of(after)
        self.applied += 1

    def apply(self, source_id: str, before: SourceBody | None, after: SourceBody | None) -> None:
        new = None
        if after is not None and after.get("enabled", True):
            try:
                new = resolve(after)
            except ConfigError as exc:
                log.error("not started: %s", mask_text(str(exc)))
        if source_id not in self.pipeline.analyses:
            if new is not None:
                self.pipeline.add_source(new)
                log.info("source %s: started", source_id)
        elif new is None:
            stop_running(self.pipeline, source_id, SOURCE_REMOVED if after is None else SOURCE_DISABLED)
        else:
            replace_running(self.pipeline, new)


def stop_running(pipeline: Any, source_id: str, reason: str) -> None:
    """Stop reading a camera of ``pipeline`` (a `LivePipeline`); its open incidents end with ``reason``."""
    analysis = pipeline.analyses.get(source_id)
    if analysis is None:
        return
    pipeline.remove_source(source_id, handover=True)  # pending clips are written; incidents ended below
    end_incidents(pipeline, analysis.open_incidents(), reason)
    log.info("source %s: stopped (%s)", source_id, reason)


def replace_running(pipeline: Any, new: SourceConfig) -> None:
    """Run ``new`` in place of the running version of its camera: the open incidents of zones it still has
    (judging their type) continue, never opened twice; the others end (``zone_removed``)."""
    analysis = pipeline.analyses.get(new.id)
    if analysis is None:
        return
    pipeline.remove_source(new.id, handover=True)  # open incidents stay open for the next version
    open_incidents = analysis.open_incidents()
    zones = {z.id: set(z.events) for z in new.zones}
    kept = [i for i in open_incidents if i.type in zones.get(i.zone_id, ())]
    end_incidents(pipeline, [i for i in open_incidents if i not in kept], ZONE_REMOVED)
    pipeline.add_source(new, inherited=kept)
    log.info("source %s: restarted with its new settings (%d open incident(s) continue)", new.id, len(kept))


def end_incidents(pipeline: Any, incidents: list, reason: str) -> None:
    for incident in incidents:
        incident.ended_at = incident.last_seen_at or incident.confirmed_at
        incident.ended_reason = reason  # e.g. zone_removed: an operator changed the camera
        event = IncidentEvent("ended", incident)
        try:
            pipeline.recorder.handle(event, None, None)
            if pipeline.event_listener is not None:  # e.g. the cluster's handover board forgets it
                pipeline.event_listener(event)
        except Exception:
            log.exception("incident %s: recording its end failed", incident.id)
