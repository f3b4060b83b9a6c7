"""Retraining jobs from the UI (issue 19 item 4), the parts that need no training run: who may start one, the
refusal when the server has no training environment (409 with the reason, never a 500), a bad request naming its
field, the progress lines as job fields, and a run a previous API process left behind ended and marked failed at
the next start (never silently lost). The real run, end to end in Chromium: tests/test_retrain_ui.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from api.training_jobs import TrainingJobs
from streetsight.commands.train import ENV_PYTHON, find_train_python
from streetsight.config import parse_config
from streetsight.training_jobs import TrainingRunner, parse_line
from tests.api_env import ApiEnv
from tests.real_parts import missing_real_part


def _env(tmp_path: Path, candidates: list[str]) -> tuple[ApiEnv, TrainingRunner]:
    env = ApiEnv(tmp_path, f"sqlite:///{tmp_path / 'records.db'}")
    cfg = parse_config({"storage": {"data_dir": str(tmp_path / "data")}})
    (tmp_path / "data" / "datasets" / "urban" / "v1").mkdir(parents=True)
    (tmp_path / "data" / "datasets" / "empty").mkdir(parents=True)  # no version: not offered
    jobs = TrainingJobs(env.sessions)
    runner = TrainingRunner(jobs, cfg, candidates.append, registry=tmp_path / "models")
    from api.training_routes import training_router

    env.app.include_router(training_router(jobs, runner))  # as serve wires it
    return env, runner


def test_without_a_training_environment_a_start_is_refused_with_the_reason(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_PYTHON, sys.executable)  # the serving Python: no torch, no ultralytics
    env, runner = _env(tmp_path, [])
    try:
        assert env.client("reviewer").get("/api/v1/training").status_code == 403
        trainer = env.client("trainer")
        overview = trainer.get("/api/v1/training").json()
        assert overview["available"] is False and "has no torch or no ultralytics" in overview["reason"]
        assert overview["datasets"] == ["urban"]
        r = trainer.post("/api/v1/training/jobs", json={"dataset": "urban", "name": "city", "epochs": 1})
        assert r.status_code == 409 and "has no torch or no ultralytics" in r.json()["detail"]
        assert trainer.get("/api/v1/training").json()["jobs"] == []
        monkeypatch.setenv(ENV_PYTHON, str(tmp_path / "nowhere" / "python"))
        runner._availability = None  # (checked again after a minute; the test does not wait)
        r = trainer.post("/api/v1/training/jobs", json={"dataset": "urban", "name": "city"})
        assert r.status_code == 409 and "no training environment on this server" in r.json()["detail"]
    finally:
        env.close()


def test_a_bad_request_names_its_field(tmp_path: Path) -> None:
    if find_train_python() is None:
        missing_real_part("no training venv (.venv-train); bin/test builds it (ensure_train_venv)")
    env, runner = _env(tmp_path, [])
    try:
        trainer = env.client("trainer")
        for body, field in [({"dataset": "empty", "name": "city"}, "dataset"),
                            ({"dataset": "urban", "name": "../etc"}, "name"),
                            ({"dataset": "urban", "name": "city", "epochs": 0}, "epochs"),
                            ({"dataset": "urban", "name": "city", "imgsz": 100}, "imgsz")]:
            r = trainer.post("/api/v1/training/jobs", json=body)
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field], (body, r.text)
        assert trainer.post("/api/v1/training/jobs/train_nope/cancel").status_code == 404
    finally:
        env.close()


def test_progress_lines_become_job_fields() -> None:
    # the lines training/fit.py and training/run.py write (their exact format)
    assert parse_line("[train] stage: evaluate") == {"stage": "evaluate"}
    line = "[train] epoch 2/30  box_loss 1.234 cls_loss 3.210 dfl_loss 1.100  P 0.512 R 0.301 mAP50 0.333 mAP50-95 0.120  (41 s)"
    assert parse_line(line) == {"epoch": 2, "epochs": 30, "metrics": {
        "precision": 0.512, "recall": 0.301, "map50": 0.333, "map50_95": 0.12}}
    first = "[train] epoch 1/30    P - R - mAP50 - mAP50-95 -  (3 s)"
    assert parse_line(first)["metrics"] == {"precision": None, "recall": None, "map50": None, "map50_95": None}
    assert parse_line("[train] best.pt on val  P 0.5 R 0.3 mAP50 0.3 mAP50-95 0.1  (50 s)") is None
    assert parse_line("      1/30      0G      1.234  ...") is None  # Ultralytics' own bars


def test_a_run_left_by_a_stopped_api_is_ended_and_its_job_marked_failed(tmp_path: Path) -> None:
    env, runner = _env(tmp_path, [])
    jobs = runner.jobs
    try:
        job = jobs.create("urban", "city", {"epochs": 30, "imgsz": 320, "batch": 16}, "trainer1")
        # the run a previous API process started: its own process group, the job's folder on its command line
        left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "-m", "training", "loop",
                                 "--project", str(tmp_path / "training" / job.id)], start_new_session=True)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        jobs.update(job.id, status="running", stage="train", epoch=7, pid=left.pid)
        assert jobs.get(job.id).status == "running"
        runner.start()  # what `serve` does at its start
        try:
            assert left.wait(timeout=30) == -15  # ended (SIGTERM to its group)
            failed = jobs.get(job.id)
            assert failed.status == "failed" and failed.finished_at is not None
            assert failed.error == "interrupted: the API stopped during the run (stage train, epoch 7/30); start it again"
            assert other.poll() is None  # a process that is not the job's run is left alone
            # the next job may start (one at a time): the failed one does not hold the place
            assert jobs.create("urban", "city", {"epochs": 1, "imgsz": 320, "batch": 16}, "trainer1").status == "queued"
        finally:
            runner.stop()
            other.kill()
            other.wait()
    finally:
        env.close()
