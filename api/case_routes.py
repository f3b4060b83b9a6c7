"""Routes of cases: the list (and the manual-assignment queue), one case, manual assignment. An unknown case
and a move its status does not allow are raised as ``CaseNotFound`` / ``CaseConflict`` and answered 404 / 409
by ``api/domain_errors.py``."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from .auth import Principal, require
from .case_schemas import AssignIn, CaseOut, CaseStatus, InvalidateIn
from .case_queries import CaseQueries
from .cases import CaseNotFound, CaseService
from .params import MAX_OFFSET


def _cases(request: Request) -> CaseService:
    return request.app.state.cases


def _case_queries(request: Request) -> CaseQueries:
    return request.app.state.cases.queries


Cases = Annotated[CaseService, Depends(_cases)]  # commands
Queries = Annotated[CaseQueries, Depends(_case_queries)]  # reads


def _find(cases: CaseQueries, case_ref: str) -> CaseOut:
    """A case by id (digits) or by number (SS-...)."""
    found = cases.get(int(case_ref)) if case_ref.isdigit() else cases.get_by_number(case_ref)
    if found is None:
        raise CaseNotFound(case_ref)
    return found


def cases_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["cases"])

    @router.get("/cases", response_model=list[CaseOut], dependencies=[Depends(require("cases:read"))])
    def list_cases(
        cases: Queries,
        response: Response,
        queue: Annotated[str | None, Query(pattern="^manual$", description="manual: waiting for assignment")] = None,
        status: CaseStatus | None = None,
        department: str | None = None,
        overdue: Annotated[bool, Query(description="only cases past their deadline, not handled")] = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> list[CaseOut]:
        """Newest first; ``queue=manual`` is the manual-assignment queue. Total in ``X-Total-Count``."""
        if queue == "manual":
            if status not in (None, "manual"):
                raise HTTPException(422, "queue=manual lists status manual; drop the status filter")
            status = "manual"
        items, total = cases.list(status=status, department=department, limit=limit, offset=offset, overdue=overdue)
        response.headers["X-Total-Count"] = str(total)
        return items

    @router.get("/cases/{case_ref}", response_model=CaseOut, dependencies=[Depends(require("cases:read"))])
    def get_case(cases: Queries, case_ref: str) -> CaseOut:
        """By id or by case number."""
        return _find(cases, case_ref)

    @router.get("/incidents/{incident_id}/case", response_model=CaseOut,
                dependencies=[Depends(require("cases:read"))])
    def get_incident_case(cases: Queries, incident_id: str) -> CaseOut:
        found = cases.get_for_incident(incident_id)
        if found is None:
            raise HTTPException(404, f"incident {incident_id!r} has no case")
        return found

    @router.post("/cases/{case_ref}/assign", response_model=CaseOut,
                 responses={404: {"description": "unknown case"}, 409: {"description": "not in the manual queue"}})
    async def assign_case(
        cases: Cases, case_ref: str, body: AssignIn, principal: Annotated[Principal, Depends(require("cases:assign"))]
    ) -> CaseOut:
        """Give a case from the manual queue to a department; it then goes to dispatch (``case.reassigned``
        when a department had returned it)."""
        case = await run_in_threadpool(_find, cases.queries, case_ref)
        return await run_in_threadpool(cases.assign, case.id, body.department, principal.username, body.note)

    @router.post("/cases/{case_ref}/invalidate", response_model=CaseOut,
                 responses={404: {"description": "unknown case"}, 409: {"description": "not in the manual queue"}})
    async def invalidate_case(
        cases: Cases, case_ref: str, body: InvalidateIn,
        principal: Annotated[Principal, Depends(require("cases:assign"))],
    ) -> CaseOut:
        """Close a case of the manual queue (e.g. returned by dispatch) as invalid, with the reason."""
        case = await run_in_threadpool(_find, cases.queries, case_ref)
        return await run_in_threadpool(cases.invalidate, case.id, body.reason, principal.username)

    return router
