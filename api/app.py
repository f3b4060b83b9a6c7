"""The HTTP app: incidents API under /api/v1, evidence download, review page, health and metrics.

It imports none of the analysis packages: the wiring hands it a repository, the evidence folder and
a callable listing the sources as plain dicts.
"""
import logging
import math
import re
from pathlib import Path
from typing import Annotated, Any, Callable

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from .metrics import ApiMetrics
from .repository import IncidentNotFound, IncidentRepository, ReviewConflict
from .schemas import IncidentOut, ReviewIn, Status

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SourcesProvider = Callable[[], list[dict[str, Any]]]


def _repository(request: Request) -> IncidentRepository:
    return request.app.state.repository


Repo = Annotated[IncidentRepository, Depends(_repository)]
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def create_app(
    repository: IncidentRepository,
    evidence_root: Path,
    sources_provider: SourcesProvider | None = None,
) -> FastAPI:
    app = FastAPI(
        title="StreetSight",
        version="0.1.0",
        description="Incidents found in city camera video, their evidence, and their review.",
    )
    root = Path(evidence_root).resolve()
    metrics = ApiMetrics(pending_count=lambda: _safe_count(repository))
    repository.on_added(metrics.incident_recorded)
    repository.on_reviewed(metrics.reviewed)
    app.state.repository = repository
    app.state.metrics = metrics

    def incident_or_404(repository: IncidentRepository, incident_id: str) -> IncidentOut:
        incident = repository.get(incident_id)
        if incident is None:
            raise HTTPException(404, f"incident {incident_id!r} not found")
        return incident

    @app.get("/healthz", tags=["ops"])
    def healthz(repository: Repo) -> JSONResponse:
        try:
            repository.ping()
        except Exception as exc:  # report, don't crash: the orchestrator restarts on 503
            log.warning("health check: database unreachable: %s", exc)
            return JSONResponse({"status": "error", "detail": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", tags=["ops"])
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    @app.get("/api/v1/incidents", response_model=list[IncidentOut], tags=["incidents"])
    def list_incidents(
        repository: Repo,
        response: Response,
        status: Status | None = None,
        type: str | None = None,
        source: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[IncidentOut]:
        """Newest first. The total matching the filters is in the ``X-Total-Count`` header."""
        response.headers["X-Total-Count"] = str(repository.count(status=status, type=type, source=source))
        return repository.list(status=status, type=type, source=source, limit=limit, offset=offset)

    @app.get("/api/v1/incidents/{incident_id}", response_model=IncidentOut, tags=["incidents"])
    def get_incident(repository: Repo, incident_id: str) -> IncidentOut:
        return incident_or_404(repository, incident_id)

    evidence_path = "/api/v1/incidents/{incident_id}/evidence/{kind}"

    @app.head(evidence_path, include_in_schema=False)
    @app.get(
        evidence_path,
        tags=["incidents"],
        response_class=FileResponse,
        responses={200: {"description": "the file; HTTP Range requests get 206"}},
    )
    def get_evidence(repository: Repo, incident_id: str, kind: str) -> FileResponse:
        item = repository.evidence_item(incident_id, kind)
        if item is None:
            incident_or_404(repository, incident_id)
            raise HTTPException(404, f"incident {incident_id!r} has no {kind!r} evidence")
        key = item.key
        path = (root / key).resolve()
        if not path.is_relative_to(root):
            log.warning("refused evidence key escaping the store: %s/%s -> %r", incident_id, kind, key)
            raise HTTPException(403, "evidence key outside the evidence store")
        if not path.is_file():
            raise HTTPException(404, f"{kind!r} evidence of {incident_id!r} is missing from the store")
        # FileResponse answers Range requests (206, Content-Range), which <video> needs to seek
        return FileResponse(
            path,
            media_type=item.content_type,
            filename=f"{incident_id}_{kind}{path.suffix}",
            content_disposition_type="inline",
            headers={"Cache-Control": "private, no-cache"},
        )

    @app.post(
        "/api/v1/incidents/{incident_id}/review",
        response_model=IncidentOut,
        tags=["incidents"],
        responses={404: {"description": "unknown incident"}, 409: {"description": "already reviewed the other way"}},
    )
    def review_incident(
        repository: Repo,
        incident_id: str,
        body: ReviewIn,
        x_reviewer: Annotated[str | None, Header(max_length=128)] = None,
    ) -> IncidentOut:
        """Confirm or reject. Repeating the same decision returns the record unchanged (safe retry);
        the other decision on a reviewed incident is a 409 conflict. ``X-Reviewer`` names the
        reviewer until authentication exists."""
        try:
            return repository.review(incident_id, body.decision, body.note, reviewer=x_reviewer)
        except IncidentNotFound:
            raise HTTPException(404, f"incident {incident_id!r} not found") from None
        except ReviewConflict as exc:
            raise HTTPException(409, str(exc)) from None

    @app.get("/api/v1/sources", tags=["sources"])
    def list_sources() -> list[dict[str, Any]]:
        """The configured sources as the wiring describes them (credentials in URLs are masked)."""
        if sources_provider is None:
            return []
        return [_mask_credentials(s) for s in sources_provider()]

    @app.get("/", include_in_schema=False)
    def review_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _safe_count(repository: IncidentRepository) -> float:
    try:
        return float(repository.count(status="pending"))
    except Exception:  # a scrape must not fail because the database is down
        return math.nan


def _mask_credentials(value: Any) -> Any:
    """Defence in depth: never let ``scheme://user:pass@host`` out, whatever the provider returns."""
    if isinstance(value, str):
        return _USERINFO.sub(r"\g<scheme>***@", value)
    if isinstance(value, dict):
        return {k: _mask_credentials(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_credentials(v) for v in value]
    return value
