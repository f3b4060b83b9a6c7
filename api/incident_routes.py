"""Routes of incidents: the list (filters, ``X-Total-Count``), one incident, its evidence (a file with HTTP
Range, or a redirect to object storage), review (one, or a batch) and putting a suppressed one back.
Unknown incidents and conflicting reviews are raised as the repository's errors and answered by the
handlers of ``api/domain_errors.py``."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Callable, Mapping

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse

from .auth import Principal, require
from .cases import EventLabelsProvider
from .params import MAX_OFFSET, PLATE_QUERY, UtcDatetime
from .repository import IncidentNotFound, IncidentRepository, ReviewConflict
from .schemas import IncidentOut, ReviewBatchIn, ReviewBatchItemOut, ReviewBatchOut, ReviewIn, Status
from .settings import SourceInfo

log = logging.getLogger(__name__)


def _repository(request: Request) -> IncidentRepository:
    return request.app.state.repository


Repo = Annotated[IncidentRepository, Depends(_repository)]
Reviewer = Annotated[Principal, Depends(require("incidents:review"))]


def incidents_router(evidence_root: Path, places: Mapping[str, SourceInfo],
                     evidence_locator: Callable[[str], Path | str | None] | None = None,
                     event_labels: EventLabelsProvider | None = None) -> APIRouter:
    """``places``: source id -> its place (the ``area`` filter); ``evidence_locator(key)``: a local file or a
    URL to redirect to (else files under ``evidence_root``); ``event_labels(type)``: the taxonomy that a
    corrected type must be in."""
    router = APIRouter(prefix="/api/v1", tags=["incidents"])
    root = Path(evidence_root).resolve()
    read_incidents = [Depends(require("incidents:read"))]

    def check_corrected_type(body: ReviewIn | ReviewBatchIn) -> None:
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
            raise IncidentNotFound(incident_id)  # 404 (api/domain_errors.py)
        return incident

    @router.get("/incidents", response_model=list[IncidentOut], dependencies=read_incidents)
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

    @router.get("/incidents/{incident_id}", response_model=IncidentOut,
             dependencies=read_incidents)
    def get_incident(repository: Repo, incident_id: str) -> IncidentOut:
        return incident_or_404(repository, incident_id)

    evidence_path = "/incidents/{incident_id}/evidence/{kind}"

    @router.head(evidence_path, include_in_schema=False, dependencies=read_incidents)
    @router.get(
        evidence_path,
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

    @router.post("/incidents/{incident_id}/review", response_model=IncidentOut, responses={
        404: {"description": "unknown incident"}, 409: {"description": "already reviewed the other way"}})
    def review_incident(repository: Repo, incident_id: str, body: ReviewIn, principal: Reviewer) -> IncidentOut:
        """Confirm (optionally as ``corrected_type``) or reject (optionally with a ``reason`` code).
        Repeating the same decision returns the record unchanged (safe retry); the other decision on a
        reviewed incident is a 409 conflict. The reviewer is the signed-in user; a confirmed incident
        becomes a case."""
        check_corrected_type(body)
        # an unknown incident (404) and a conflicting review (409): api/domain_errors.py
        return repository.review(incident_id, body.decision, body.note, reviewer=principal.username,
                                 reason=body.reason, corrected_type=body.corrected_type)

    @router.post("/incidents/{incident_id}/unsuppress", response_model=IncidentOut, responses={
        404: {"description": "unknown incident"}, 409: {"description": "not suppressed"}})
    def unsuppress_incident(repository: Repo, incident_id: str, principal: Reviewer) -> IncidentOut:
        """Put an incident the verifier suppressed (it looked like a rejected one at the same place) back in
        the review queue as ``pending`` (audited). Repeating it on a pending incident returns it unchanged;
        a reviewed one is a 409."""
        out = repository.unsuppress(incident_id, actor=principal.username)  # unknown: 404 (domain_errors)
        if out.status != "pending":
            raise HTTPException(409, f"incident {incident_id!r} is {out.status}, not suppressed")
        return out

    @router.post("/incidents/review-batch", response_model=ReviewBatchOut)
    def review_batch(repository: Repo, body: ReviewBatchIn, principal: Reviewer) -> ReviewBatchOut:
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

    return router
