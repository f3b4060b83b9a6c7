"""Malformed requests get a 4xx, never a 500 with a traceback, on every route (new ones too).

- 422 validation errors never echo secrets or bulk: an input value is shown only when it is a short scalar of a
  field whose name does not look secret (password, token, secret, key, signature...).
- A value out of range for the machine rather than for the schema (an integer past 64 bits reaching the
  database, a date that cannot move to UTC at the calendar's ends) is a 422, not an OverflowError's 500.
"""
from __future__ import annotations

import logging
import math
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, StatementError

log = logging.getLogger(__name__)

SECRET_FIELD = re.compile(r"pass|token|secret|key|sig|auth|cookie|credential", re.IGNORECASE)
MAX_ECHO_CHARS = 64
INT64 = 2 ** 63
_SURROGATE = re.compile("[\ud800-\udfff]")
_INTEGER = re.compile(r"[+-]?\d+")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(UnicodeError, _out_of_range)
    app.add_exception_handler(StatementError, _database_error)  # DataError and wrapped Overflow/Unicode errors


def public_errors(errors: Any) -> list[dict[str, Any]]:
    """Pydantic / FastAPI error dicts, reduced to what may be shown to anyone."""
    return [_public_error(e) for e in errors]


def _public_error(error: dict[str, Any]) -> dict[str, Any]:
    loc = [part if isinstance(part, (str, int)) else str(part) for part in error.get("loc", ())]
    out: dict[str, Any] = {"type": error.get("type", "value_error"), "loc": loc, "msg": str(error.get("msg", ""))[:300]}
    secret = any(isinstance(part, str) and SECRET_FIELD.search(part) for part in loc)
    ctx = {k: v for k, v in (error.get("ctx") or {}).items() if _echoable(v)}
    if ctx and not secret:
        out["ctx"] = ctx
    if "input" in error and not secret and _echoable(error["input"]):
        out["input"] = error["input"]
    return out


def _echoable(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return len(str(value)) <= MAX_ECHO_CHARS
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= MAX_ECHO_CHARS and not _SURROGATE.search(value)
    return False


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": public_errors(exc.errors())}, status_code=422)


async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
    names = _oversized_integers(request)
    where = f" ({', '.join(names)})" if names else ""
    log.info("%s %s: value out of range: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse({"detail": f"a value in the request is out of range{where}: a number too large, a date "
                                   "too close to the calendar's ends, or text that is not valid Unicode"},
                        status_code=422)


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StatementError)
    if isinstance(exc, DataError) or isinstance(exc.orig, (OverflowError, UnicodeError)):
        return await _out_of_range(request, exc)
    log.error("%s %s: database error", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error (database)"}, status_code=500)


def _oversized_integers(request: Request) -> list[str]:
    """The query and path parameters holding integers no 64-bit column can take: named in the answer."""
    params = [*request.query_params.multi_items(), *request.path_params.items()]
    return sorted({name for name, value in params if isinstance(value, str) and _INTEGER.fullmatch(value)
                   and (len(value.lstrip("+-")) > 19 or not -INT64 <= int(value) < INT64)})
