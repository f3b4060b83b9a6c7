"""``/api/v1/models``: the registered models, which one serves where, and promotion / rollback from the UI.

The API imports no analysis package: the wiring hands it a ``ModelActions`` (streetsight/model_promotion.py)
that reads the registry, decides a promotion by measurement and records it. Admins and trainers may promote
and roll back; everyone who reads incidents may see the models. A refusal is a 409 with the measured reason.
"""
from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from .auth import Principal, require

NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"


class ModelActionRefused(ValueError):
    """The promotion or rollback is not allowed as asked; the message says why (a measurement, a stack)."""


class UnknownModel(LookupError):
    """No registered model of that name (or not a detector)."""


class ModelActions(Protocol):
    def overview(self) -> dict[str, Any]: ...

    def promote(self, name: str, camera: str | None, *, force: bool, reason: str | None,
                actor: str) -> dict[str, Any]: ...

    def rollback(self, camera: str | None, *, reason: str | None, actor: str) -> dict[str, Any]: ...


class PromoteIn(BaseModel):
    camera: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
                               description="one camera; absent: everywhere")
    force: bool = Field(False, description="promote although not measured better (needs a reason)")
    reason: str | None = Field(None, max_length=500, description="why; required with force")


class RollbackIn(BaseModel):
    camera: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
                               description="one camera; absent: everywhere")
    reason: str | None = Field(None, max_length=500)


def _field_error(field: str, message: str) -> HTTPException:
    return HTTPException(422, [{"type": "value_error", "loc": ["body", field], "msg": message}])


def models_router(actions: ModelActions) -> APIRouter:
    router = APIRouter(prefix="/api/v1/models", tags=["models"])

    @router.get("", dependencies=[Depends(require("incidents:read"))])
    def list_models() -> dict[str, Any]:
        """The registered detectors, the model in service everywhere and per camera, the latest promotions."""
        return actions.overview()

    @router.post("/rollback")
    def rollback(body: RollbackIn,
                 principal: Annotated[Principal, Depends(require("models:promote"))]) -> dict[str, Any]:
        """Undo the last promotion everywhere or on one camera: its previous model serves again."""
        try:
            return actions.rollback(body.camera, reason=_text(body.reason), actor=principal.username)
        except ModelActionRefused as exc:
            raise HTTPException(409, str(exc)) from None

    @router.post("/{name}/promote")
    def promote(name: Annotated[str, PathParam(pattern=NAME_PATTERN)], body: PromoteIn,
                principal: Annotated[Principal, Depends(require("models:promote"))]) -> dict[str, Any]:
        """Put a registered model in service everywhere or on one camera. Refused (409, with the measured
        reason) unless it is measured at least as good as the model in service, or forced with a reason."""
        if body.force and not _text(body.reason):
            raise _field_error("reason", "a forced promotion needs a reason: why this model serves without a "
                                         "better measurement")
        try:
            return actions.promote(name, body.camera, force=body.force, reason=_text(body.reason),
                                   actor=principal.username)
        except UnknownModel as exc:
            raise HTTPException(404, str(exc)) from None
        except ModelActionRefused as exc:
            raise HTTPException(409, str(exc)) from None

    return router


def _text(value: str | None) -> str | None:
    return value.strip() or None if value else None
