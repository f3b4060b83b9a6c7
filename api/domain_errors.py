"""Domain errors as HTTP answers, in one place: routes raise what the records say (an unknown incident, a
review that conflicts, a case move its status does not allow) and these handlers answer 404 or 409 with
the same one-line ``detail`` on every route."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .case_states import CaseConflict
from .cases import CaseNotFound
from .repository import IncidentNotFound, ReviewConflict


def install_domain_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(IncidentNotFound, _incident_not_found)
    app.add_exception_handler(ReviewConflict, _conflict)
    app.add_exception_handler(CaseNotFound, _case_not_found)
    app.add_exception_handler(CaseConflict, _conflict)


def _detail(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code)


async def _incident_not_found(request: Request, exc: Exception) -> JSONResponse:
    incident_id = exc.args[0] if exc.args else request.path_params.get("incident_id")
    return _detail(404, f"incident {incident_id!r} not found")


async def _case_not_found(request: Request, exc: Exception) -> JSONResponse:
    case_ref = request.path_params.get("case_ref") or (exc.args[0] if exc.args else "")
    return _detail(404, f"case {case_ref!r} not found")


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return _detail(409, str(exc))
