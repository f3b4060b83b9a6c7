"""``GET /api/v1/models/compare``: a candidate model in shadow against the serving one, judged by reviews."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from .auth import require
from .model_compare import compare
from .repository import IncidentRepository

MAX_INCIDENTS = 20000  # the measured set: the newest incidents of the cameras the candidate ran on

ShadowStats = Callable[[], Mapping[str, Any]]  # the shadow runner's costs (candidate and serving ms per frame)


def compare_router(shadow_stats: ShadowStats | None = None) -> APIRouter:
    router = APIRouter(prefix="/api/v1/models", tags=["models"])

    @router.get("/compare", dependencies=[Depends(require("incidents:read"))])
    def compare_models(request: Request, model: Annotated[str | None, Query(
            max_length=128, description="the candidate; default: the one in shadow now")] = None) -> dict[str, Any]:
        """Per event type and camera: precision and recall of the serving and the candidate model, measured
        against the reviewers' decisions; with each model's latency and cost per frame."""
        stats = dict(shadow_stats() if shadow_stats is not None else {})
        candidate = model or stats.get("candidate")
        if not candidate:  # nothing to compare: an empty report says so (the statistics page asks on every visit)
            return {"candidate": None, "rows": [], "total": None, "worse": None, "latency": {},
                    "summary": "no candidate model in shadow mode (model.shadow); name one with ?model=NAME"}
        repository: IncidentRepository = request.app.state.repository
        latency = {k: stats[k] for k in ("candidate_cost", "serving_cost", "over_budget", "share")
                   if k in stats} if stats.get("candidate") == candidate else {}
        return compare(candidate, repository.list(limit=MAX_INCIDENTS)).as_dict(latency)

    return router
