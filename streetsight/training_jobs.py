"""Runs the retraining jobs trainers start from the UI (api/training_routes.py): `streetsight train loop` in the
training environment (.venv-train: torch and Ultralytics never enter the serving process), one at a time.

The run's output is read line by line: ``[train] stage: NAME`` and ``[train] epoch K/N ... P R mAP50 mAP50-95``
(training/run.py, training/fit.py) become the job's stage, epoch and metrics. A run that ends well registers
``<name>.v<N>``, which then enters shadow mode beside the serving model (``on_candidate``). The run is its own
process group: a cancel ends all of it, and a restarted API ends a run a previous process left behind and marks
its job failed, saying so.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from datetime import datetime, timezone
from collections.abc import Callable
from pathlib import Path

import yaml

from api.training_jobs import TrainingJobOut, TrainingJobs
from streams.urls import mask_text
from streetsight.commands.train import ENV_PYTHON, REPO, find_train_python
from streetsight.config import Config
from streetsight.model_assignments import assignments_dir

log = logging.getLogger(__name__)

STAGE = re.compile(r"\[train\] stage: (\w+)")
EPOCH = re.compile(r"\[train\] epoch (\d+)/(\d+).*?P (\S+) R (\S+) mAP50 (\S+) mAP50-95 (\S+)")
VERSION = re.compile(r"v\d+")
TAIL_LINES = 30
FLUSH_S = 2.0  # the log tail is written at most this often (stage and epoch changes at once)
AVAILABILITY_TTL_S = 60.0
STOP_GRACE_S = 10.0


def _metric(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "-": not measured yet


def parse_line(line: str) -> dict | None:
    """A progress line of the run as job fields, or None."""
    if m := STAGE.search(line):
        return {"stage": m.group(1)}
    if m := EPOCH.search(line):
        return {"epoch": int(m.group(1)), "epochs": int(m.group(2)),
                "metrics": {"precision": _metric(m.group(3)), "recall": _metric(m.group(4)),
                            "map50": _metric(m.group(5)), "map50_95": _metric(m.group(6))}}
    return None


class TrainingRunner:
    """``on_candidate(model)``: put a freshly registered model in shadow mode (the wiring's, e.g. `enter_shadow`)."""

    def __init__(self, jobs: TrainingJobs, cfg: Config, on_candidate: Callable[[str], None],
                 registry: Path | None = None) -> None:
        self.jobs = jobs
        self.cfg = cfg
        self.on_candidate = on_candidate
        self.registry = registry
        self.datasets_dir = cfg.training.resolved_datasets_dir(cfg.storage.data_dir)
        self.runs_dir = cfg.training.resolved_runs_dir(cfg.storage.data_dir)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._job: str | None = None
        self._cancelled: set[str] = set()
        self._availability: tuple[float, str | None] | None = None

    # -- what the API asks ----------------------------------------------------------------------

    def unavailable(self) -> str | None:
        now = time.monotonic()
        if self._availability is None or now - self._availability[0] > AVAILABILITY_TTL_S:
            self._availability = (now, self._check_environment())
        return self._availability[1]

    def datasets(self) -> list[str]:
        if not self.datasets_dir.is_dir():
            return []
        return sorted(d.name for d in self.datasets_dir.iterdir() if d.is_dir() and self._newest_version(d))

    def start(self) -> "TrainingRunner":
        """Run queued jobs (those a previous process left queued too); end and fail its left-over runs."""
        with self._lock:
            if self._thread is None:
                self._recover()
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="training-jobs", daemon=True)
                self._thread.start()
        self._wake.set()
        return self

    def cancel(self, job_id: str) -> bool:
        if self.jobs.update(job_id, only_if=("queued",), status="cancelled", error="cancelled before it started"):
            return True
        with self._lock:
            if self._job != job_id or self._proc is None:
                return False
            self._cancelled.add(job_id)
            _end_group(self._proc.pid)
        return True

    def stop(self) -> None:
        """With the API: the run going on is ended and its job marked failed (a restart would not resume it)."""
        self._stop.set()
        self._wake.set()
        with self._lock:
            if self._proc is not None and self._job is not None:
                self._cancelled.add(self._job)
                _end_group(self._proc.pid)
        if self._thread is not None:
            self._thread.join(STOP_GRACE_S + 5)
            self._thread = None

    # -- the run --------------------------------------------------------------------------------

    def _check_environment(self) -> str | None:
        python = find_train_python()
        if python is None:
            return (f"no training environment on this server: torch and ultralytics are not installed "
                    f"(.venv-train; `bin/streetsight train doctor` builds it, or set {ENV_PYTHON})")
        probe = "import importlib.util as u, sys; sys.exit(0 if u.find_spec('torch') and u.find_spec('ultralytics') else 3)"
        try:
            rc = subprocess.run([str(python), "-c", probe], capture_output=True, timeout=60).returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"the training environment ({python}) does not start: {exc}"
        if rc != 0:
            return f"the training environment ({python}) has no torch or no ultralytics: install the `train` extra there"
        return None

    @staticmethod
    def _newest_version(folder: Path) -> Path | None:
        versions = [d for d in folder.iterdir() if d.is_dir() and VERSION.fullmatch(d.name)]
        return max(versions, key=lambda d: int(d.name[1:]), default=None)

    def _recover(self) -> None:
        for job in self.jobs.active("running"):
            record_pid = self.jobs.pid_of(job.id)
            if record_pid is not None and _is_our_run(record_pid, job.id):
                _end_group(record_pid)  # its output went to the process that is gone: nobody could follow it
            where = f"stage {job.stage}" + (f", epoch {job.epoch}/{job.epochs}" if job.epochs else "")
            self.jobs.update(job.id, only_if=("running",), status="failed", pid=None,
                             error=f"interrupted: the API stopped during the run ({where}); start it again")
            log.warning("training job %s was left running by a previous process: marked failed", job.id)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(5.0)
            self._wake.clear()
            for job in self.jobs.active("queued"):
                if self._stop.is_set():
                    break
                try:
                    self._execute(job)
                except Exception as exc:  # noqa: BLE001 - a broken run must not stop the runner
                    log.exception("training job %s failed", job.id)
                    self.jobs.update(job.id, status="failed", pid=None, error=f"{type(exc).__name__}: {exc}")

    def _command(self, job: TrainingJobOut, records: Path) -> list[str]:
        python = find_train_python()
        if python is None:  # the environment went away after the job was queued
            raise RuntimeError(self._check_environment() or "no training environment")
        root = self.datasets_dir / job.dataset
        base = self._newest_version(root)
        if base is None:
            raise FileNotFoundError(f"{root} holds no dataset version (v1, v2, ...)")
        p = job.params
        return [str(python), "-m", "training", "loop", "--config", str(records), "--base", str(base),
                "--dataset-root", str(root), "--name", job.name, "--no-promote",
                "--versions-dir", str(self.registry or assignments_dir()), "--project", str(self.runs_dir / job.id),
                "--run-name", "run", "--epochs", str(p["epochs"]), "--imgsz", str(p["imgsz"]),
                "--batch", str(p["batch"]), "--workers", str(self.cfg.training.workers), "--cache", "none"]

    def _records_config(self, job_dir: Path) -> Path:
        """The records and evidence the loop exports reviews from: this deployment's storage settings, in a file
        only this user reads, removed when the run ends (they may hold the database's password)."""
        job_dir.mkdir(parents=True, exist_ok=True)
        path = job_dir / "records.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump({"storage": self.cfg.storage.model_dump(mode="json", exclude_none=True)}, f)
        return path

    def _execute(self, job: TrainingJobOut) -> None:
        job_dir = self.runs_dir / job.id
        records = self._records_config(job_dir)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
               "YOLO_CONFIG_DIR": os.environ.get("YOLO_CONFIG_DIR", str(self.runs_dir / "ultralytics"))}
        try:
            with self._lock:
                if self.jobs.update(job.id, only_if=("queued",), status="running", stage="dataset") is None:
                    return  # cancelled meanwhile
                proc = subprocess.Popen(self._command(job, records), stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, errors="replace", env=env,
                                        cwd=str(REPO), start_new_session=True)
                self._proc, self._job = proc, job.id
            self.jobs.update(job.id, pid=proc.pid, started_at=datetime.now(timezone.utc))
            tail = self._follow(job.id, proc)
            rc = proc.wait()
        finally:
            records.unlink(missing_ok=True)
            with self._lock:
                self._proc, self._job = None, None
        self._finish(job, rc, tail, job_dir / "run" / "summary.json")

    def _follow(self, job_id: str, proc: subprocess.Popen[str]) -> deque[str]:
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        flushed = 0.0
        summary = False  # the run's closing JSON summary: the job's result, kept out of its log
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = mask_text(raw.rstrip())
            summary = summary or line == "{"
            if not line.strip() or summary:
                continue
            tail.append(line)
            fields = parse_line(line)
            if fields is not None or time.monotonic() - flushed > FLUSH_S:
                self.jobs.update(job_id, only_if=("running",), log_tail="\n".join(tail), **(fields or {}))
                flushed = time.monotonic()
        return tail

    def _finish(self, job: TrainingJobOut, rc: int, tail: deque[str], summary_path: Path) -> None:
        text = "\n".join(tail)
        if job.id in self._cancelled:
            self._cancelled.discard(job.id)
            stopping = self._stop.is_set()
            self.jobs.update(job.id, status="failed" if stopping else "cancelled", pid=None, log_tail=text,
                             error="interrupted: the API stopped during the run; start it again" if stopping
                             else "cancelled by a trainer")
            return
        if rc != 0 or not summary_path.is_file():
            reason = next((line for line in reversed(tail) if "streetsight train:" in line or "Error" in line),
                          tail[-1] if tail else f"exit status {rc}")
            self.jobs.update(job.id, status="failed", pid=None, log_tail=text, error=f"exit status {rc}: {reason}")
            return
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        candidate = f"{summary['name']}.{summary['version']}"
        result = {k: summary.get(k) for k in ("name", "version", "registered", "evaluation", "train_s", "dataset")}
        self.jobs.update(job.id, stage="shadow", candidate=candidate, result=result, log_tail=text, pid=None)
        try:
            self.on_candidate(candidate)
        except Exception as exc:  # noqa: BLE001 - the model is registered; say why it is not in shadow
            log.exception("training job %s: %s not put in shadow mode", job.id, candidate)
            self.jobs.update(job.id, status="failed", error=f"registered as {candidate}, but shadow mode failed: {exc}")
            return
        self.jobs.update(job.id, status="succeeded")
        log.info("training job %s: %s registered and in shadow mode", job.id, candidate)


def _is_our_run(pid: int, job_id: str) -> bool:
    """The process is still there and is this job's run (not another process that got the number since)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "training" in cmdline and job_id in cmdline


def _end_group(pid: int) -> None:
    """SIGTERM to the run's process group (dataloader workers included), SIGKILL after a grace period."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return

    def reap() -> None:
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    threading.Thread(target=reap, name=f"end-run-{pid}", daemon=True).start()
