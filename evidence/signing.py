"""Expiring links to evidence on the local disk: an HMAC-SHA256 token over the key and the expiry.

S3 stores hand out presigned URLs; the local store needs its own equivalent so the review UI and the
dispatch system get the same kind of link whatever the backend. The API checks the token
(``api/signed_evidence.py``) before it serves the file.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote, urlencode

MAX_EXPIRY_S = 7 * 24 * 3600  # the same limit S3 puts on presigned URLs
SIGNED_PATH = "/api/v1/evidence/signed/"


def check_expiry(expires_s: float) -> int:
    if not 1 <= expires_s <= MAX_EXPIRY_S:
        raise ValueError(f"expires_s must be 1..{MAX_EXPIRY_S} seconds, got {expires_s}")
    return int(expires_s)


class UrlSigner:
    """Signs and checks ``(key, expires_at)`` pairs with a secret that never leaves the process."""

    def __init__(self, secret: bytes, base_url: str = "") -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes")
        self._secret = secret
        self.base_url = base_url.rstrip("/")  # e.g. https://streetsight.example.org; "" gives a path

    def __repr__(self) -> str:  # never show the secret
        return f"UrlSigner(base_url={self.base_url!r})"

    def signature(self, key: str, expires_at: int) -> str:
        message = f"{key}\n{int(expires_at)}".encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, key: str, expires_s: float, now: float | None = None) -> str:
        expires_at = int((time.time() if now is None else now) + check_expiry(expires_s))
        query = urlencode({"expires": expires_at, "sig": self.signature(key, expires_at)})
        return f"{self.base_url}{SIGNED_PATH}{quote(key)}?{query}"

    def verify(self, key: str, expires_at: int, signature: str, now: float | None = None) -> bool:
        """True when ``signature`` is ours for ``key`` and ``expires_at`` has not passed."""
        if (time.time() if now is None else now) > expires_at:
            return False
        return hmac.compare_digest(self.signature(key, expires_at), signature)


def load_or_create_secret(path: str | Path) -> bytes:
    """The secret kept in ``path`` (created with 32 random bytes, mode 0600, on first use), so links
    stay valid across restarts."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if len(data) >= 16:
            return data
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return data
