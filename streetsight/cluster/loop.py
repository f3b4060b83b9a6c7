"""A named daemon thread running one function until stopped: the shape of every cluster side job."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)


class BackgroundLoop:
    """``target(stop_event)`` runs in a daemon thread; it must return soon after ``stop_event`` is set."""

    def __init__(self, name: str, target: Callable[[threading.Event], None]) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout_s)


class PeriodicRedisWriter:
    """Base of the workers' periodic writes to Redis (health, latest frames): ``publish_once()`` every
    ``interval_s`` in its own thread; an outage is logged once when it starts and once when it ends."""

    def __init__(self, name: str, what: str, interval_s: float) -> None:
        self.interval_s = interval_s
        self._what = what
        self._loop = BackgroundLoop(name, self._run)
        self._failing = False

    def start(self) -> "PeriodicRedisWriter":
        self._loop.start()
        return self

    def stop(self) -> None:
        self._loop.stop()

    def publish_once(self) -> object:
        raise NotImplementedError

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            try:
                self.publish_once()
                if self._failing:
                    log.info("%s reaches Redis again", self._what)
                self._failing = False
            except redis.RedisError as exc:
                if not self._failing:
                    log.warning("cannot write %s to Redis: %s (retrying)", self._what, exc)
                self._failing = True
