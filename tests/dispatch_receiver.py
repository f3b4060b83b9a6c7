"""The reference dispatch receiver (api/dispatch_reference.py) as a real process on 127.0.0.1, for tests."""
from __future__ import annotations

import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.pg_server import free_port


class ReceiverProcess:
    def __init__(self, db_path: Path, fail_rate: float = 0.0, seed: int = 7, port: int | None = None,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        """``extra_args``: e.g. ``--callback-url`` and behaviours; ``env``: e.g. the callback secret and token."""
        self.db_path = db_path
        self.extra_args = list(extra_args or [])
        self.env = dict(env or {})
        self.fail_rate = fail_rate
        self.seed = seed
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cases"

    def start(self, timeout_s: float = 30.0) -> "ReceiverProcess":
        deadline = time.monotonic() + timeout_s
        while True:  # the port of a just-killed server may take a moment to bind again
            errors = tempfile.TemporaryFile("w+")
            proc = subprocess.Popen(
                [sys.executable, "-m", "api.dispatch_reference", "--port", str(self.port), "--db", str(self.db_path),
                 "--fail-rate", str(self.fail_rate), "--seed", str(self.seed), *self.extra_args],
                stdout=subprocess.PIPE, stderr=errors, text=True, cwd=Path(__file__).resolve().parents[1],
                env={**os.environ, **self.env})
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
                while time.monotonic() < deadline and proc.poll() is None:
                    if sel.select(timeout=0.1) and proc.stdout.readline().strip() == "READY":  # type: ignore[union-attr]
                        self.proc = proc
                        errors.close()
                        return self
            _stop(proc, signal.SIGKILL)
            errors.seek(0)
            message = errors.read()
            errors.close()
            if time.monotonic() >= deadline:
                raise RuntimeError(f"reference receiver did not start: {message[-2000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """Die at once, mid-request (no graceful shutdown)."""
        if self.proc is not None:
            _stop(self.proc, signal.SIGKILL)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM)
            self.proc = None

    def rows(self) -> list[tuple[str, str, str, int]]:
        """(key, message, case_number, deliveries) of every stored message."""
        if not self.db_path.exists():
            return []
        with sqlite3.connect(self.db_path, timeout=30) as db:
            return list(db.execute("SELECT key, message, case_number, deliveries FROM received"))

    def stored(self) -> int:
        if not self.db_path.exists():
            return 0
        with sqlite3.connect(self.db_path, timeout=30) as db:
            try:
                return int(db.execute("SELECT count(*) FROM received").fetchone()[0])
            except sqlite3.OperationalError:  # not created yet
                return 0

    def callbacks(self) -> list[tuple[str, int | None]]:
        """(event_id, our API's answer or None while unanswered) of each callback it made, in order."""
        if not self.db_path.exists():
            return []
        with sqlite3.connect(self.db_path, timeout=30) as db:
            try:
                return list(db.execute("SELECT event_id, answer FROM outgoing ORDER BY seq"))
            except sqlite3.OperationalError:
                return []

    def stats(self) -> dict[str, int]:
        with sqlite3.connect(self.db_path, timeout=30) as db:
            return dict(db.execute("SELECT name, n FROM stats"))


def _stop(proc: subprocess.Popen[str], sig: int) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stdout:
        proc.stdout.close()
