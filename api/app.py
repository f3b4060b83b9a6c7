"""The HTTP app: incidents API under /api/v1, evidence download, review page, health and metrics.

It imports none of the analysis packages: the wiring hands it a repository, the evidence folder and
a callable listing the sources as plain dicts.
"""
import hmac
import logging
import math
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping, Sequence

from datetime import datetime

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client.registry import Collector

from streams.urls import mask_credentials  # stdlib only: the one masking, as FFmpeg parses URLs

from .auth import Principal, current_principal, request_token, require
from .cases import Clock, EventLabelsProvider, EvidenceLinker, ProtectEvidence, RecheckSnapshot
from .console_routes import console_router
from .docs_pages import add_docs_pages
from .error_handlers import install_error_handlers
from .footage_jobs import FootageJobs
from .footage_routes import FootageIntake, attach_footage
from .frame_routes import FrameView, frame_router
from .metrics import ApiMetrics
from .params import MAX_OFFSET, PLATE_QUERY, UtcDatetime
from .repository import IncidentNotFound, IncidentRepository, ReviewConflict
from .request_guard import RequestGuard
from .schemas import IncidentOut, ReviewBatchIn, ReviewBatchItemOut, ReviewBatchOut, ReviewIn, Status
from .security_headers import SecurityHeaders
from .services import attach_services, lifespan
from .settings import ApiSettings, SourceInfo
from .source_catalog import SourceCatalog
from .source_routes import attach_source_records
from .model_compare_routes import ShadowStats, compare_router
from .sources import PositionSink, sources_router

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
SourcesProvider = Callable[[], list[dict[str, Any]]]


def _repository(request: Request) -> IncidentRepository:
    return request.app.state.repository


Repo = Annotated[IncidentRepository, Depends(_repository)]


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
    ``recheck_snapshot(incident_id, source, deadline)`` stores the picture of the spot a re-check (核查) sends to dispatch."""
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
    add_docs_pages(app, http.media_origins)
    app.add_middleware(RequestGuard, max_body_bytes=http.max_body_bytes,
                       body_read_timeout_s=http.body_read_timeout_s)
    app.add_middleware(SecurityHeaders, media_origins=http.media_origins)  # outermost: 413s get the headers too
    read_incidents = [Depends(require("incidents:read"))]

    def check_corrected_type(body: ReviewIn) -> None:
        """A correction must name an event type of the taxonomy: an unknown one would make a case without
        codes. 422 naming the field, like any other malformed body (no taxonomy given: not checked)."""
        if body.corrected_type is None or event_labels is None or event_labels(body.corrected_type) is not None:
            return
        raise RequestValidationError([{
            "type": "value_error", "loc": ("body", "corrected_type"), "input": body.corrected_type,
            "msg": f"corrected_type: {body.corrected_type!r} is not a configured event type"}])

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
    def prometheus_metrics(request: Request) -> Response:
        auth = services.settings.auth
        scrape_token = (auth.resolved_metrics_token() or "").encode()
        given = (request_token(request) or "").encode("utf-8", "replace")
        scraper = bool(scrape_token and given) and hmac.compare_digest(given, scrape_token)
        if not auth.metrics_public and not scraper and not current_principal(request).may("metrics:read"):
            raise HTTPException(403, "metrics are for admins or the auth.metrics_token (auth.metrics_public is off)")
        return Response(metrics.exposition(), media_type=metrics.content_type)

    @app.get("/api/v1/incidents", response_model=list[IncidentOut], tags=["incidents"], dependencies=read_incidents)
    def list_incidents(
        repository: Repo,
        response: Response,
        status: Status | None = None,
        type: str | None = None,
        source: str | None = None,
        area: Annotated[str | None, Query(description="the sources configured with this area")] = None,
        since: Annotated[UtcDatetime | None, Query(description="detected at or after (wall time, ISO 8601)")] = None,
        until: Annotated[UtcDatetime | None, Query(description="detected before (wall time, ISO 8601)")] = None,
        plate: Annotated[str | None, Query(min_length=1, max_length=16, pattern=PLATE_QUERY,
                                           description="licence plates containing this text (e.g. 鄂A12 or "
                                                       "a12; case and separators ignored)")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> list[IncidentOut]:
        """Newest first. The total matching the filters is in the ``X-Total-Count`` header. ``since`` /
        ``until`` compare the wall-clock time of detection (``detected_wall``; no zone means UTC)."""
        sources = [sid for sid, info in places.items() if info.area == area] if area else None
        filters = dict(status=status, type=type, source=source, sources=sources, since=since, until=until,
                       plate=plate)
        response.headers["X-Total-Count"] = str(repository.count(**filters))
        return repository.list(**filters, limit=limit, offset=offset)

    @app.get("/api/v1/incidents/{incident_id}", response_model=IncidentOut, tags=["incidents"],
             dependencies=read_incidents)
    def get_incident(repository: Repo, incident_id: str) -> IncidentOut:
        return incident_or_404(repository, incident_id)

    evidence_path = "/api/v1/incidents/{incident_id}/evidence/{kind}"

    @app.head(evidence_path, include_in_schema=False, dependencies=read_incidents)
    @app.get(
        evidence_path,
        tags=["incidents"],
        dependencies=read_incidents,
        response_class=FileResponse,
        responses={200: {"description": "the file; HTTP Range requests get 206"}},
    )
    def get_evidence(repository: Repo, incident_id: str, kind: str) -> FileResponse:
        item = repository.evidence_item(incident_id, kind)
        if item is None:
            incident_or_404(repository, incident_id)
            raise HTTPException(404, f"incident {incident_id!r} has no {kind!r} evidence")
        key = item.key
        if evidence_locator is not None:
            where = evidence_locator(key)
            if isinstance(where, str):  # object storage: the client fetches it with an expiring URL
                return RedirectResponse(where, status_code=307, headers={"Cache-Control": "no-store"})
            path = where or root / key  # None: not found, answered below
        else:
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
            filename=f"{incident_id}_{kind}{Path(key).suffix}",
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
        principal: Annotated[Principal, Depends(require("incidents:review"))],
    ) -> IncidentOut:
        """Confirm (optionally as ``corrected_type``) or reject (optionally with a ``reason`` code).
        Repeating the same decision returns the record unchanged (safe retry); the other decision on a
        reviewed incident is a 409 conflict. The reviewer is the signed-in user; a confirmed incident
        becomes a case."""
        check_corrected_type(body)
        try:
            return repository.review(incident_id, body.decision, body.note, reviewer=principal.username,
                                     reason=body.reason, corrected_type=body.corrected_type)
        except IncidentNotFound:
            raise HTTPException(404, f"incident {incident_id!r} not found") from None
        except ReviewConflict as exc:
            raise HTTPException(409, str(exc)) from None

    @app.post(
        "/api/v1/incidents/{incident_id}/unsuppress",
        response_model=IncidentOut,
        tags=["incidents"],
        responses={404: {"description": "unknown incident"}, 409: {"description": "not suppressed"}},
    )
    def unsuppress_incident(
        repository: Repo,
        incident_id: str,
        principal: Annotated[Principal, Depends(require("incidents:review"))],
    ) -> IncidentOut:
        """Put an incident the verifier suppressed (it looked like a rejected one at the same place) back in
        the review queue as ``pending`` (audited). Repeating it on a pending incident returns it unchanged;
        a reviewed one is a 409."""
        try:
            out = repository.unsuppress(incident_id, actor=principal.username)
        except IncidentNotFound:
            raise HTTPException(404, f"incident {incident_id!r} not found") from None
        if out.status != "pending":
            raise HTTPException(409, f"incident {incident_id!r} is {out.status}, not suppressed")
        return out

    @app.post("/api/v1/incidents/review-batch", response_model=ReviewBatchOut, tags=["incidents"])
    def review_batch(
        repository: Repo, body: ReviewBatchIn, principal: Annotated[Principal, Depends(require("incidents:review"))]
    ) -> ReviewBatchOut:
        """The same decision for many incidents; a result per id (200, 404 or 409), never all-or-nothing."""
        check_corrected_type(body)
        results = []
        for incident_id in body.ids:
            try:
                out = repository.review(incident_id, body.decision, body.note, reviewer=principal.username,
                                        reason=body.reason, corrected_type=body.corrected_type)
                results.append(ReviewBatchItemOut(id=incident_id, status_code=200, incident=out))
            except IncidentNotFound:
                results.append(ReviewBatchItemOut(id=incident_id, status_code=404, detail="incident not found"))
            except ReviewConflict as exc:
                results.append(ReviewBatchItemOut(id=incident_id, status_code=409, detail=str(exc),
                                                  incident=exc.incident))
        return ReviewBatchOut(results=results)

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
    if frame_view is not None:
        def known(source_id: str) -> bool:
            if source_catalog is not None:
                return source_catalog.get(source_id) is not None
            return any(s.get("id") == source_id for s in (sources_provider() if sources_provider else []))

        app.include_router(frame_router(frame_view, known))

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
