"""Periodic jobs of the API process: the case sweep (cases a crash or outage left uncreated, evidence
not yet protected), the re-check (核查) of handled cases and the reminders / overdue alarms of dispatched ones
(on the re-check's period). One thread; a failing job is logged and
tried again on its next turn, it never stops the thread."""
from __future__ import annotations

import logging
import threading
import time

from .cases import CaseService

log = logging.getLogger(__name__)


class BackgroundJobs:
    def __init__(self, cases: CaseService, sweep_s: float = 30.0, recheck_s: float = 10.0) -> None:
        self.cases = cases
        self.sweep_s = sweep_s
        self.recheck_s = recheck_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="case-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        next_sweep = next_recheck = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_sweep:
                self._guarded("sweep", self.cases.sweep)
                next_sweep = now + self.sweep_s
            if now >= next_recheck:
                self._guarded("re-check", self.cases.recheck_due)
                self._guarded("reminders", self.cases.remind_due)
                next_recheck = now + self.recheck_s
            self._stop.wait(max(0.05, min(next_sweep, next_recheck) - time.monotonic()))

    @staticmethod
    def _guarded(name: str, job) -> None:
        try:
            job()
        except Exception:  # the database may be down: report, try again next turn
            log.exception("case job %s failed", name)
