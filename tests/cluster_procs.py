"""Real `streetsight serve --role ...` processes for the scale-out tests: start, kill -9, stop by PID."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

ADMIN_PASSWORD = "cluster-test-admin"


class ServeProcess:
    def __init__(self, name: str, config: Path, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.config = config
        self.args = args
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ServeProcess":
        env = dict(os.environ, STREETSIGHT_ADMIN_PASSWORD=ADMIN_PASSWORD, PYTHONUNBUFFERED="1")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "streetsight", "serve", "--config", str(self.config),
                                      *self.args], stdout=log, stderr=subprocess.STDOUT, env=env)
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no cleanup at all, as when a node dies."""
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class ApiClient:
    """A logged-in client of an API process."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.base, timeout=10)

    def wait_ready(self, proc: ServeProcess, timeout_s: float = 60.0) -> "ApiClient":
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not proc.alive:
                raise RuntimeError(f"{proc.name} exited:\n{proc.log_tail()}")
            try:
                if self.http.get("/healthz").status_code == 200:
                    r = self.http.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
                    r.raise_for_status()
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{proc.name} did not answer:\n{proc.log_tail()}")

    def sources(self) -> list[dict]:
        r = self.http.get("/api/v1/sources")
        r.raise_for_status()
        return r.json()

    def incidents(self) -> list[dict]:
        r = self.http.get("/api/v1/incidents", params={"limit": 500})
        r.raise_for_status()
        return r.json()

    def close(self) -> None:
        self.http.close()
