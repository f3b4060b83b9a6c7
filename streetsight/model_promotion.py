"""Promotion and rollback as one service for the CLI (`models promote|rollback`) and the UI (api/model_routes.py).

The decision: the candidate's shadow measurement by review decisions when the records hold one for the scope,
else the evaluations both manifests record (streetsight/model_assignments.py). Every change is written to the
assignments log (what a running serve follows) and, when records are at hand, to the deployment's audit log.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from api.audit import record_audit
from api.model_compare import compare
from api.model_routes import ModelActionRefused, UnknownModel
from api.repository import IncidentRepository
from models.manifest import ModelManifest
from models.registry import ManifestError, ModelNotFound, find_model, list_models
from streetsight.model_assignments import EVERYWHERE, AssignmentStore, Measured, PromotionRefused, assignments_dir

MEASURED_INCIDENTS = 20000  # the newest incidents: the measured set of a shadow comparison
HISTORY = 50


class ModelPromotions:
    """``configured``: the model the configuration serves (``model.name``); ``repository``: the records whose
    review decisions measure a shadow candidate and whose audit log records each change (None: neither)."""

    def __init__(self, configured: str, repository: IncidentRepository | None = None,
                 directory: Path | None = None) -> None:
        self.configured = configured
        self.repository = repository
        self.store = AssignmentStore(directory or assignments_dir())

    def overview(self) -> dict[str, Any]:
        state = self.store.current()
        models = []
        for name in list_models():
            try:
                manifest = find_model(name).manifest
            except (ManifestError, ModelNotFound):
                continue  # a broken registration is not offered
            if manifest.task == "detect":
                models.append({"name": name, "version": manifest.version, "classes": len(manifest.class_names),
                               "evaluation": (manifest.source.get("evaluation") or {}).get("metrics")})
        return {"configured": self.configured, "default": state.default or self.configured, "cameras": state.cameras,
                "shadow": state.shadow, "models": models, "history": self.store.history()[-HISTORY:]}

    def promote(self, name: str, camera: str | None, *, force: bool = False, reason: str | None = None,
                actor: str | None = None) -> dict[str, Any]:
        candidate = self._detector(name)
        in_service = self.store.current().model_for(camera or EVERYWHERE, self.configured)
        try:
            current: ModelManifest | None = find_model(in_service).manifest
        except (ModelNotFound, ManifestError):
            current = None  # the model in service is gone from the registry: nothing to compare with
        if current is not None and current.name == candidate.name:
            raise ModelActionRefused(f"{name} is already in service {'on ' + camera if camera else 'everywhere'}")
        try:
            entry = self.store.promote(candidate, current, camera, force=force, reason=reason,
                                       measured=self.measured(name, camera), actor=actor)
        except PromotionRefused as exc:
            raise ModelActionRefused(str(exc)) from None
        self._audit(entry)
        return entry

    def rollback(self, camera: str | None, *, reason: str | None = None, actor: str | None = None) -> dict[str, Any]:
        try:
            entry = self.store.rollback(camera, reason=reason, actor=actor)
        except PromotionRefused as exc:
            raise ModelActionRefused(str(exc)) from None
        self._audit(entry)
        return entry

    def measured(self, name: str, camera: str | None) -> Measured | None:
        """The candidate's shadow measurement when reviews judged any of it; None: decide by evaluations."""
        if self.repository is None:
            return None
        incidents = self.repository.list(limit=MEASURED_INCIDENTS)
        result = compare(name, [i for i in incidents if camera is None or i.source == camera])
        if result.total().judged == 0:
            return None
        return Measured(result.worse(), result.summary())

    def _detector(self, name: str) -> ModelManifest:
        try:
            manifest = find_model(name).manifest
        except ModelNotFound as exc:
            raise UnknownModel(str(exc)) from None
        except ManifestError as exc:
            raise ModelActionRefused(f"{name} cannot be loaded: {exc}") from None
        if manifest.task != "detect":
            raise UnknownModel(f"{name} is a {manifest.task} model, not a detector")
        return manifest

    def _audit(self, entry: dict[str, Any]) -> None:
        if self.repository is None:
            return
        with self.repository.sessions() as s:
            record_audit(s, entry["by"], f"model.{entry['action']}",
                         source_id=None if entry["scope"] == EVERYWHERE else entry["scope"],
                         before={"model": entry.get("previous")},
                         after={k: entry.get(k) for k in ("model", "scope", "forced", "reason", "decision", "measured")})
            s.commit()


def shadow_candidate(model: str, directory: Path | None = None) -> None:
    """A retrained model enters shadow mode: recorded in the assignments, which every serve and worker following
    that folder applies within its poll (and again after a restart)."""
    AssignmentStore(directory or assignments_dir()).set_shadow(model, reason="retrained from the UI",
                                                                actor="training")
