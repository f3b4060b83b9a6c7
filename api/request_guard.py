"""Admission of request bodies, before any route sees them (a pure ASGI middleware, so every route is covered).

- A body over ``max_body_bytes`` is refused with 413: at once when ``Content-Length`` says so, else as soon as
  the bytes read pass the limit (chunked uploads); nothing larger is ever held in memory.
- A body not received whole within ``body_read_timeout_s`` is answered with 408 and the connection closed
  (a slow-loris body; the server itself times out slow request heads, see streetsight/http_server.py).
- A JSON body (or one with no content type: FastAPI parses those as JSON too) must be strict JSON: UTF-8, no
  ``NaN`` / ``Infinity`` (nor numbers that overflow to them, such as ``1e999``), no lone UTF-16 surrogates
  (``"\\ud800"``) in any string or key. Anything else is a 422 naming the problem, never a 500 further on,
  and the body is never echoed back.
"""
from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_SURROGATE = re.compile("[\ud800-\udfff]")
_DIGITS = re.compile(r"[0-9]+")


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


class RequestGuard:
    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_body_bytes: int,
                 body_read_timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_read_timeout_s = body_read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if "content-length" not in headers and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body (GET, HEAD...): the event streams keep their receive
            return
        declared = headers.get("content-length")
        if declared is not None and not _DIGITS.fullmatch(declared):
            await _bad_length(scope, receive, send)
            return
        if declared is not None and (len(declared) > 18 or int(declared) > self.max_body_bytes):  # refused unread
            await self._too_large(scope, receive, send)
            return
        try:
            body = await _read_body(receive, self.max_body_bytes, self.body_read_timeout_s)
        except BodyTooLarge:
            await self._too_large(scope, receive, send)
            return
        except BodyTooSlow:
            response = JSONResponse({"detail": f"request body not received within {self.body_read_timeout_s:g} s "
                                               "(api.body_read_timeout_s)"}, 408, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if body and (not content_type or content_type == "application/json" or content_type.endswith("+json")):
            problem = json_problem(body)
            if problem is not None:
                response = JSONResponse({"detail": [{"type": "json_invalid", "loc": ["body"], "msg": problem}]}, 422)
                await response(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": f"request body over the limit of {self.max_body_bytes} bytes "
                                           "(api.max_body_bytes)"}, 413, headers={"Connection": "close"})
        await response(scope, receive, send)


async def _bad_length(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"detail": "Content-Length: not a number"}, 400, headers={"Connection": "close"})(
        scope, receive, send)


async def _read_body(receive: Receive, limit: int, timeout_s: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
        except asyncio.TimeoutError:
            raise BodyTooSlow from None
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body once, then the connection's own messages (a client's disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def json_problem(body: bytes) -> str | None:
    """What makes ``body`` unacceptable as strict JSON, or None when it is fine."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite)
    except RecursionError:
        return "the JSON is nested too deeply"
    except ValueError as exc:  # JSONDecodeError, NaN / Infinity, a number with too many digits
        return f"invalid JSON: {exc}"[:200]
    stack = [value]
    while stack:  # iterative: a deep document must not recurse here either
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return "a string holds a lone UTF-16 surrogate (not valid Unicode)"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None
