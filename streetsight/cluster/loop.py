"""A named daemon thread running one function until stopped: the shape of every cluster side job."""
from __future__ import annotations

import threading
from collections.abc import Callable


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
