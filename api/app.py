"""The HTTP app: incidents API under /api/v1, evidence download, review page, health and metrics.

It imports none of the analysis packages: the wiring hands it a repository, the evidence folder and
a callable listing the sources as plain dicts.
"""
import hmac
import logging
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client.registry import Collector

from streams.urls import mask_credentials  # stdlib only: the one masking, as FFmpeg parses URLs

from .auth import current_principal, request_token, require
from .cases import Clock, EventLabelsProvider, EvidenceLinker, ProtectEvidence, RecheckSnapshot
from .console_routes import console_router
from .docs_pages import add_docs_pages
from .domain_errors import install_domain_error_handlers
from .error_handlers import install_error_handlers
from .footage_jobs import FootageJobs
from .footage_routes import FootageIntake, attach_footage
from .frame_routes import FrameView, frame_router
from .incident_routes import Repo, incidents_router
from .label_routes import EventTypeLabels, labels_router
from .metrics import ApiMetrics
from .repository import IncidentRepository
from .request_guard import RequestGuard
from .security_headers import SecurityHeaders
from .services import attach_services, lifespan
from .settings import ApiSettings, SourceInfo
from .source_catalog import SourceCatalog
from .source_routes import attach_source_records
from .model_compare_routes import ShadowStats, compare_router
from .model_routes import ModelActions, models_router
from .training_jobs import TrainingJobs
from .training_routes import TrainingLauncher, training_router
from .sources import PositionSink, sources_router

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SourcesProvider = Callable[[], list[dict[str, Any]]]


def create_app(
    repository: IncidentRepository,
    evidence_root: Path,
    sources_provider: SourcesProvider | None = None,
    evidence_locator: Callable[[str], Path | str | None] | None = None,
    position_sink: PositionSink | None = None,
    collectors: Sequence[Collector] = (),
    *,
    settings: ApiSettings | None = None,
    source_info: Mapping[str, SourceInfo] | None = None,
    event_labels: EventLabelsProvider | None = None,
    protect_evidence: ProtectEvidence | None = None,
    evidence_linker: EvidenceLinker | None = None,
    run_workers: bool = True,
    source_catalog: SourceCatalog | None = None,
    clock: Clock | None = None,
    recheck_snapshot: RecheckSnapshot | None = None,
    footage: tuple[FootageJobs, FootageIntake] | None = None,
    frame_view: FrameView | None = None,
    shadow_stats: ShadowStats | None = None,
    event_types: EventTypeLabels | None = None,
    model_actions: ModelActions | None = None,
    training: tuple[TrainingJobs, TrainingLauncher] | None = None,
) -> FastAPI:
    """``evidence_locator(key)``, when given, says where evidence is: a local file to serve, or a URL
    (presigned, on S3) to redirect to; without it evidence is read from ``evidence_root``.

    Every route but ``/healthz``, ``/metrics`` (only with ``auth.metrics_public``; else an admin or the
    ``auth.metrics_token``), the page, the docs pages and ``/static`` needs a login (see ``api/auth.py``).
    ``source_info`` maps a source id to its place (address,
    lng/lat, grid, area) for its cases and the ``area`` filter; ``event_labels(type)`` the taxonomy of a corrected type; ``protect_evidence(incident_id)``
    is called when the incident becomes a case; ``evidence_linker(incident_id, kind, key)`` makes the
    (presigned) evidence URLs sent to dispatch. ``run_workers`` starts the dispatch client and the case
    jobs with the server (lifespan). ``source_catalog``: the camera records, served and changed under
    ``/api/v1/sources`` (with ``sources_provider``'s live health merged in); without it that route lists
    what ``sources_provider`` gives. ``footage``: the jobs of uploaded recordings and the intake that turns a
    complete upload into one (``/api/v1/footage``, see ``api/footage_routes.py``). ``frame_view``: each camera's
    latest analysed frame, served as ``/api/v1/sources/{id}/snapshot`` and ``/preview``;
    ``recheck_snapshot(incident_id, source, deadline)`` stores the picture of the spot a re-check (核查) sends to dispatch.
    ``event_types``: every event type with its labels (the taxonomy), served to the pages as
    ``/ui/event-types.js`` (``api/label_routes.py``).
    ``model_actions``: the registered models, promotion and rollback (``/api/v1/models``, api/model_routes.py).
    ``training``: retraining jobs started from the UI and what runs them (``/api/v1/training``)."""
    app = FastAPI(
        title="StreetSight",
        version="0.1.0",
        description="Incidents found in city camera video, their evidence, their review, and the cases "
        "sent to the city's dispatch system.",
        lifespan=lifespan,
        docs_url=None,  # offline copies instead of the CDN: add_docs_pages
        redoc_url=None,
    )
    root = Path(evidence_root).resolve()
    metrics = ApiMetrics(pending_count=lambda: _safe_count(repository))
    repository.on_added(metrics.incident_recorded)
    repository.on_reviewed(metrics.reviewed)
    app.state.repository = repository
    app.state.metrics = metrics
    for collector in collectors:  # e.g. the live pipeline's per-source metrics, on the same /metrics
        metrics.registry.register(collector)
    app.state.run_workers = run_workers
    places = dict(source_info or {})
    services = attach_services(app, repository, metrics, settings, places.get, event_labels, protect_evidence,
                               evidence_linker, clock=clock, recheck_snapshot=recheck_snapshot)
    http = services.settings.http
    install_error_handlers(app)
    install_domain_error_handlers(app)
    add_docs_pages(app, http.media_origins)
    app.add_middleware(RequestGuard, max_body_bytes=http.max_body_bytes,
                       body_read_timeout_s=http.body_read_timeout_s)
    app.add_middleware(SecurityHeaders, media_origins=http.media_origins)  # outermost: 413s get the headers too
    @app.get("/healthz", tags=["ops"])
    def healthz(repository: Repo) -> JSONResponse:
        try:
            repository.ping()
        except Exception as exc:  # report, don't crash: the orchestrator restarts on 503
            log.warning("health check: database unreachable: %s", exc)
            return JSONResponse({"status": "error", "detail": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics", tags=["ops"])
    def prometheus_metrics(request: Request) -> Response:
        auth = services.settings.auth
        scrape_token = (auth.resolved_metrics_token() or "").encode()
        given = (request_token(request) or "").encode("utf-8", "replace")
        scraper = bool(scrape_token and given) and hmac.compare_digest(given, scrape_token)
        if not auth.metrics_public and not scraper and not current_principal(request).may("metrics:read"):
            raise HTTPException(403, "metrics are for admins or the auth.metrics_token (auth.metrics_public is off)")
        return Response(metrics.exposition(), media_type=metrics.content_type)

    app.include_router(incidents_router(root, places, evidence_locator, event_labels))

    if source_catalog is not None:
        attach_source_records(app, source_catalog, sources_provider, places)
    else:
        @app.get("/api/v1/sources", tags=["sources"], dependencies=[Depends(require("sources:read"))])
        def list_sources() -> list[dict[str, Any]]:
            """The configured sources as the wiring describes them (credentials in URLs are masked)."""
            if sources_provider is None:
                return []
            return [mask_credentials(s) for s in sources_provider()]

    app.state.source_places = places  # the cameras' places (areas) for the statistics
    app.include_router(console_router(sources_provider))
    app.include_router(compare_router(shadow_stats))  # a candidate model in shadow against the serving one
    if model_actions is not None:
        app.include_router(models_router(model_actions))
    if training is not None:
        app.include_router(training_router(*training))
    if frame_view is not None:
        def known(source_id: str) -> bool:
            if source_catalog is not None:
                return source_catalog.get(source_id) is not None
            return any(s.get("id") == source_id for s in (sources_provider() if sources_provider else []))

        app.include_router(frame_router(frame_view, known))

    app.include_router(labels_router(event_types or {}))

    @app.get("/", include_in_schema=False)
    def review_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.include_router(sources_router(position_sink, dependencies=[Depends(require("sources:position"))]))
    if footage is not None:
        attach_footage(app, *footage)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _safe_count(repository: IncidentRepository) -> float:
    try:
        return float(repository.count(status="pending"))
    except Exception:  # a scrape must not fail because the database is down
        return math.nan
