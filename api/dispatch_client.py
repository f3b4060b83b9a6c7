"""The dispatch client: worker threads that POST outbox messages to the dispatch system.

Each message goes as JSON with its fixed ``Idempotency-Key``; 2xx (or 409: "I have this key
already") marks it delivered, anything else (5xx, 4xx, timeouts, refused connections) is retried with
exponential backoff and jitter, for as long as it takes: a case is never dropped. A crash between
the receiver's answer and our bookkeeping only means the same key is sent again.
"""
from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable

import httpx

from common.backoff import backoff_s

from .cases import CaseService
from .dispatch_outbox import Outbox, OutboxMessage
from .settings import DispatchSettings

log = logging.getLogger(__name__)

DeliveryObserver = Callable[[str, float | None], None]  # (outcome, outbox latency in s when delivered)


class DispatchClient:
    def __init__(
        self,
        outbox: Outbox,
        cases: CaseService,
        settings: DispatchSettings,
        observe: DeliveryObserver | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.outbox = outbox
        self.cases = cases
        self.settings = settings
        self._observe = observe or (lambda outcome, latency: None)
        self._transport = transport
        self._client = httpx.Client(timeout=settings.timeout_s, transport=transport)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._rng = random.Random()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.url)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled:
            log.info("dispatch.url is not set: cases wait in the outbox until it is")
            return
        if self._threads:
            return
        if self._client.is_closed:
            self._client = httpx.Client(timeout=self.settings.timeout_s, transport=self._transport)
        self._stop.clear()
        for i in range(self.settings.concurrency):
            t = threading.Thread(target=self._run, name=f"dispatch-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout_s)
        self._threads.clear()
        self._client.close()

    def wake(self) -> None:
        """A message was enqueued: don't wait for the next poll."""
        self._wake.set()

    # -- work -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.deliver_due(limit=4)
            except Exception:  # the database went away: report, wait, try again
                log.exception("dispatch worker: outbox unavailable")
                busy = 0
            if busy:
                continue
            wait = self.settings.poll_s
            try:
                due_in = self.outbox.next_due_in_s()
                if due_in is not None:
                    wait = min(wait, max(0.01, due_in))
            except Exception:
                pass
            self._wake.wait(wait)
            self._wake.clear()

    def deliver_due(self, limit: int = 16) -> int:
        """Send up to ``limit`` due messages from this thread; returns how many were tried."""
        messages = self.outbox.claim(limit, self.settings.lease_s)
        for message in messages:
            self.deliver(message)
        return len(messages)

    def deliver(self, message: OutboxMessage) -> bool:
        url = self.settings.url
        if not url:
            return False
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.key,
                   "X-StreetSight-Message": message.kind}
        token = self.settings.resolved_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        error: str | None = None
        try:
            self.cases.attach_late_evidence(message)  # the case keeps what its message carries
            body = json.dumps(self.cases.render(message), ensure_ascii=False).encode()
            response = self._client.post(url, content=body, headers=headers)
            if response.is_success or response.status_code == 409:
                delivered_at = self.outbox.mark_delivered(message, also=self.cases.delivered(message))
                if delivered_at is not None:
                    latency = (delivered_at - message.created_at).total_seconds()
                    self._observe("delivered", latency)
                    self.cases.after_delivery(message)
                return True
            error = f"HTTP {response.status_code}: {response.text[:300]}"
            outcome = "rejected" if 400 <= response.status_code < 500 else "server_error"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
            outcome = "unreachable"
        retry_in = backoff_s(message.attempts + 1, self.settings.backoff_base_s, self.settings.backoff_max_s, self._rng)
        level = logging.ERROR if outcome == "rejected" else logging.WARNING
        log.log(level, "dispatch of %s (attempt %d) failed: %s; retry in %.1fs", message.key, message.attempts + 1,
                error, retry_in)
        self._observe(outcome, None)
        self.outbox.mark_failed(message, error or outcome, retry_in)
        return False

    def drain(self, timeout_s: float, now: Callable[[], float] | None = None) -> bool:
        """Deliver from this thread until nothing is undelivered or ``timeout_s`` passed (tests, tools)."""
        import time

        clock = now or time.monotonic
        deadline = clock() + timeout_s
        while clock() < deadline:
            if self.outbox.depth() == 0:
                return True
            if not self.deliver_due():
                due_in = self.outbox.next_due_in_s() or 0.0
                time.sleep(min(max(due_in, 0.01), 0.2))
        return self.outbox.depth() == 0
