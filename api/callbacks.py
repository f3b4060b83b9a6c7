"""``POST /api/v1/dispatch/callbacks``: status reports from the dispatch system, signed with HMAC-SHA256.

The sender signs ``<timestamp>.<raw body>`` with the shared secret and sends::

    X-Timestamp: 1714550400                 (Unix seconds; outside ±callback_tolerance_s -> 401)
    X-Signature: sha256=<hex HMAC-SHA256(secret, b"1714550400." + body)>

and authenticates as a user of role ``dispatch-callback`` (bearer token). The timestamp bounds a
replay's window; the body's ``event_id`` is remembered, so a replayed or retried report changes
nothing (200 with ``duplicate: true``). An illegal move for the case's status is a 409.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError

from .auth import Principal, require
from .case_schemas import CallbackIn, CallbackOut
from .cases import CaseNotFound, CaseService

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
MAX_BODY_BYTES = 64 * 1024


def signature(secret: bytes, body: bytes, timestamp: int | str) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: bytes, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender adds (for the dispatch system's developers, the tests and the reference)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: signature(secret, body, ts),
            "Content-Type": "application/json"}


def verify(secret: bytes, body: bytes, timestamp: str | None, sig: str | None, tolerance_s: float,
           now: float | None = None) -> str | None:
    """None when valid, else why not."""
    if not timestamp or not sig:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header"
    try:
        ts = int(timestamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} must be Unix seconds"
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return f"{TIMESTAMP_HEADER} is outside the allowed window (replay or clock skew)"
    if not hmac.compare_digest(signature(secret, body, ts).encode(), sig.strip().encode("utf-8", "replace")):
        return "bad signature"
    return None


def callbacks_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/dispatch", tags=["dispatch"])

    @router.post(
        "/callbacks",
        response_model=CallbackOut,
        responses={401: {"description": "no valid login, or a bad / stale signature"},
                   404: {"description": "unknown case number"},
                   409: {"description": "the status does not allow this move"},
                   503: {"description": "no callback secret is configured"}},
    )
    async def dispatch_callback(
        request: Request, principal: Annotated[Principal, Depends(require("dispatch:callback"))]
    ) -> CallbackOut:
        """Moves a case: dispatched -> accepted (签收, optional) -> handled -> verified -> closed, or
        dispatched/accepted -> returned (回退, with a ``reason``: to the manual queue). Signed body: see the
        module docs."""
        settings = request.app.state.settings.dispatch
        secret = settings.resolved_callback_secret()
        if secret is None:
            raise HTTPException(503, "callbacks are off: dispatch.callback_secret is not configured")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "callback body too large")
        problem = verify(secret, body, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER),
                         settings.callback_tolerance_s)
        if problem is not None:
            raise HTTPException(401, problem)
        try:
            callback = CallbackIn.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(422, exc.errors(include_url=False, include_input=False)) from None
        cases: CaseService = request.app.state.cases
        from starlette.concurrency import run_in_threadpool

        try:
            case, duplicate = await run_in_threadpool(cases.apply_callback, callback, principal.username)
        except CaseNotFound:  # the number is in the body, not the path: its own message
            raise HTTPException(404, f"no case {callback.case_number!r}") from None
        return CallbackOut(case=case, duplicate=duplicate)

    return router
