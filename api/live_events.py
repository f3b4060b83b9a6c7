"""Live updates for the UI: ``GET /api/v1/events`` as server-sent events (``text/event-stream``).

Events: ``incident`` (a new incident), ``incident_updated`` (reviewed, ended, (un)suppressed), ``case_updated`` (a
case was created or changed), ``footage_job`` (an uploaded recording's analysis job changed: status,
progress, ETA; as ``GET /api/v1/footage/{job_id}``). ``data`` is the JSON of the incident (as ``GET /api/v1/incidents/{id}``)
or of the case (as ``GET /api/v1/cases/{id}``). The broker is fed by repository listeners, which run
in whatever thread made the change; each subscriber has a bounded queue on the server's event loop,
and a subscriber too slow to keep up loses its oldest events (the UI re-reads the list on reconnect).

A subscriber gets only the events whose data its role may read through the REST routes
(``EVENT_PERMISSIONS``): a trainer sees incidents but no case (it gets 403 on ``/api/v1/cases``).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from .auth import Principal, require

log = logging.getLogger(__name__)

# Each event's data is what one REST route returns: the event needs the permission of that route.
EVENT_PERMISSIONS: dict[str, str] = {
    "incident": "incidents:read",  # GET /api/v1/incidents/{id}
    "incident_updated": "incidents:read",  # GET /api/v1/incidents/{id}
    "case_updated": "cases:read",  # GET /api/v1/cases/{id}
    "footage_job": "footage:read",  # GET /api/v1/footage/{job_id}: progress of an uploaded recording's analysis
}
EVENT_NAMES = tuple(EVENT_PERMISSIONS)


@dataclass(frozen=True)
class Event:
    id: int
    name: str
    data: str  # JSON

    def encode(self) -> bytes:
        return f"id: {self.id}\nevent: {self.name}\ndata: {self.data}\n\n".encode()


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int, principal: Principal) -> None:
        self.loop = loop
        self.principal = principal
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, event: Event | None) -> None:  # runs on the subscriber's loop
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(event)

    def may_read(self, event: Event | None) -> bool:
        return event is None or self.principal.may(EVENT_PERMISSIONS[event.name])


class EventBroker:
    """Publish from any thread; subscribe from the event loop that serves the stream."""

    def __init__(self, queue_size: int = 256) -> None:
        self._subscribers: set[_Subscriber] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._queue_size = queue_size
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, name: str, payload: Any) -> None:
        if name not in EVENT_NAMES:
            raise ValueError(f"unknown event {name!r}")
        data = payload.model_dump_json() if hasattr(payload, "model_dump_json") else json.dumps(payload)
        event = Event(next(self._ids), name, data)
        self._deliver(event)

    def close(self) -> None:
        """End every open stream (server shutdown)."""
        self._closed = True
        self._deliver(None)

    def _deliver(self, event: Event | None) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            if not sub.may_read(event):
                continue
            try:
                sub.loop.call_soon_threadsafe(sub.offer, event)
            except RuntimeError:  # its loop is closed: the stream is gone
                self._remove(sub)

    def _remove(self, sub: _Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    async def stream(self, request: Request, principal: Principal, heartbeat_s: float = 15.0,
                     max_s: float = 3600.0) -> AsyncIterator[bytes]:
        """The byte stream of one subscriber: the events ``principal`` may read, a comment line as
        heartbeat, ended after ``max_s`` (the browser's EventSource reconnects by itself) or when the
        client goes away."""
        sub = _Subscriber(asyncio.get_running_loop(), self._queue_size, principal)
        with self._lock:
            self._subscribers.add(sub)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_s
        try:
            yield b"retry: 3000\n: connected\n\n"
            while not self._closed and loop.time() < deadline:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), timeout=heartbeat_s)
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        break
                    yield b": keep-alive\n\n"
                    continue
                if event is None:
                    break
                yield event.encode()
        finally:
            self._remove(sub)


def events_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["events"])

    @router.get(
        "/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}},
                         "description": "server-sent events: incident, incident_updated (for roles that may "
                                        "read incidents), case_updated (for roles that may read cases)"}},
    )
    async def events(request: Request,
                     principal: Annotated[Principal, Depends(require("events:read"))]) -> StreamingResponse:
        broker: EventBroker = request.app.state.events
        return StreamingResponse(
            broker.stream(request, principal, heartbeat_s=request.app.state.events_heartbeat_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router
