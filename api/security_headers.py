"""Security headers on every response (a pure ASGI middleware): a Content-Security-Policy that allows only this
origin's scripts and styles (the review UI has no inline script or style), framing refused, no MIME sniffing,
no referrer (presigned evidence URLs must not leak). A response that sets its own CSP (the docs pages) keeps it.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def content_security_policy(media_origins: Iterable[str] = (), *, docs: bool = False) -> str:
    """``media_origins``: where evidence images and clips may come from besides this origin (S3).
    ``docs``: the Swagger UI / ReDoc pages, whose libraries inject styles and start a blob: worker."""
    media = " ".join(["'self'", "blob:", *media_origins])
    style = "'self' 'unsafe-inline'" if docs else "'self'"
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        f"style-src {style}",
        f"img-src {media} data:",
        f"media-src {media}",
        "connect-src 'self'",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


class SecurityHeaders:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 media_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.defaults = [
            (b"content-security-policy", content_security_policy(media_origins).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in self.defaults if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
