"""Our API (app, dispatch workers, case jobs) as a real process on 127.0.0.1, for tests that kill and restart
it. Its clock is the wall clock plus an offset that the test moves by writing a file (``FileClock``), so
time limits pass without waiting. Run by ``ApiProcess``; prints ``READY`` when it listens."""
from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class FileClock:
    """Now plus the seconds written in ``path`` (0 while it is missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset_s(self) -> float:
        try:
            return float(self.path.read_text() or 0)
        except FileNotFoundError:
            return 0.0

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset_s())

    def advance_to(self, at: datetime) -> None:
        """Never backwards."""
        offset = max(self.offset_s(), (at - datetime.now(timezone.utc)).total_seconds())
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(repr(offset))
        os.replace(tmp, self.path)


class ApiProcess:
    def __init__(self, database_url: str, port: int, settings: dict, clock_file: Path, evidence_root: Path) -> None:
        self.database_url, self.port, self.settings = database_url, port, settings
        self.clock_file, self.evidence_root = clock_file, evidence_root
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 120.0) -> "ApiProcess":
        settings_file = self.clock_file.with_name("api-settings.json")
        settings_file.write_text(json.dumps(self.settings))
        deadline = time.monotonic() + timeout_s
        while True:  # the port of a just-killed server may take a moment to bind again
            errors = tempfile.TemporaryFile("w+")
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.api_process", "--db-url", self.database_url, "--port", str(self.port),
                 "--settings", str(settings_file), "--clock-file", str(self.clock_file),
                 "--evidence-root", str(self.evidence_root)],
                stdout=subprocess.PIPE, stderr=errors, text=True, cwd=ROOT)
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
                while time.monotonic() < deadline and proc.poll() is None:
                    if sel.select(timeout=0.1) and proc.stdout.readline().strip() == "READY":  # type: ignore[union-attr]
                        self.proc = proc
                        errors.close()
                        return self
            _signal(proc, signal.SIGKILL)
            errors.seek(0)
            message = errors.read()
            errors.close()
            if time.monotonic() >= deadline:
                raise RuntimeError(f"API process did not start: {message[-2000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """Die at once (no shutdown: leases, half-done deliveries and all)."""
        if self.proc is not None:
            _signal(self.proc, signal.SIGKILL)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            _signal(self.proc, signal.SIGTERM)
            self.proc = None


def _signal(proc: subprocess.Popen[str], sig: int) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.stdout:
        proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from api import IncidentRepository, create_app, create_engine_for, init_db, make_session_factory
    from api.settings import ApiSettings
    from tests.api_env import PLACES, TAXONOMY

    parser = argparse.ArgumentParser()
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--settings", type=Path, required=True)
    parser.add_argument("--clock-file", type=Path, required=True)
    parser.add_argument("--evidence-root", type=Path, required=True)
    args = parser.parse_args(argv)
    engine = create_engine_for(args.db_url)
    init_db(engine)
    repository = IncidentRepository(make_session_factory(engine))
    settings = ApiSettings.model_validate_json(args.settings.read_text())
    app = create_app(repository, args.evidence_root, settings=settings, source_info=PLACES,
                     event_labels=TAXONOMY.get, clock=FileClock(args.clock_file))

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:  # type: ignore[override]
            await super().startup(sockets)
            print("READY", flush=True)

    Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")).run()


if __name__ == "__main__":
    main()
