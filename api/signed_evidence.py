"""Expiring evidence links for the local store: ``GET /api/v1/evidence/signed/{key}?expires=&sig=``.

The link itself is the credential (an HMAC over key and expiry, made by the evidence store's signer),
so the dispatch system can fetch evidence without an account, and only until the link expires. The
app is handed the check as a callable: api/ imports no evidence code.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse

log = logging.getLogger(__name__)

SIGNED_ROUTE = "/api/v1/evidence/signed/{key:path}"
Verify = Callable[[str, int, str], bool]  # (key, expires_at, signature) -> valid and not expired
Locate = Callable[[str], "Path | str | None"]


def mount_signed_evidence(app: FastAPI, locate: Locate, verify: Verify) -> None:
    """Add the signed-link route to ``app``. ``locate(key)`` gives the local file (or None)."""

    @app.head(SIGNED_ROUTE, include_in_schema=False)
    @app.get(SIGNED_ROUTE, tags=["evidence"], response_class=FileResponse,
             responses={403: {"description": "bad or expired signature"}})
    def signed_evidence(key: str, expires: int = Query(...), sig: str = Query(..., max_length=128)) -> FileResponse:
        """Serve one evidence object to the holder of a valid, unexpired link (HTTP Range supported)."""
        if not verify(key, expires, sig):
            raise HTTPException(403, "evidence link invalid or expired")
        try:
            where = locate(key)
        except ValueError:
            raise HTTPException(404, "no such evidence") from None
        if not isinstance(where, Path) or not where.is_file():
            raise HTTPException(404, "no such evidence")
        return FileResponse(where, headers={"Cache-Control": "private, max-age=60"},
                            content_disposition_type="inline")
