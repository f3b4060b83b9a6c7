"""The uvicorn server of the API, with the limits from ``api:`` (``HttpSettings``).

uvicorn has a keep-alive timeout and a cap on the size of a request head, but no time limit for reading a
head: a client that sends its headers a byte at a time holds a connection for as long as it likes
(slow loris). ``HeadTimeoutH11Protocol`` closes a connection that has not sent a whole request head within
``header_read_timeout_s`` of connecting or of its previous response.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.settings import HttpSettings

log = logging.getLogger(__name__)


class HeadTimeoutH11Protocol(H11Protocol):
    head_timeout_s: float = 10.0  # set per server by protocol_with_head_timeout

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_head_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # a whole head arrived (or the connection broke): time is up
            self._cancel_head_deadline()

    def on_response_complete(self) -> None:
        self._arm_head_deadline()  # first: a pipelined request parsed by super() cancels it again
        super().on_response_complete()

    def _arm_head_deadline(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("closed a connection from %s: no request head within %.0f s",
                     self.client[0] if self.client else "?", self.head_timeout_s)
            self.transport.close()


def protocol_with_head_timeout(timeout_s: float) -> type[HeadTimeoutH11Protocol]:
    return type("HeadTimeoutH11Protocol", (HeadTimeoutH11Protocol,), {"head_timeout_s": timeout_s})


def uvicorn_config(app: Any, host: str, port: int, http: HttpSettings, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port,
        http=protocol_with_head_timeout(http.header_read_timeout_s),
        h11_max_incomplete_event_size=http.max_header_bytes,
        timeout_keep_alive=http.keep_alive_timeout_s,
        **options,
    )
