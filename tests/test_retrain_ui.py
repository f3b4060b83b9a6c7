"""Retraining from the UI, end to end (issue 19 item 4) in real Chromium against a running `serve`: a trainer
starts the export -> train -> evaluate loop on the reviews in the records, follows its stage and epochs, cancels a
run (its processes end), starts again; the result is registered and enters shadow mode in the running pipeline,
where it analyses a camera's frames beside the serving model. Tiny: 40 synthetic images, 1 epoch at 160 px
(as tests/test_training_e2e.py). Screenshot: var/test-artifacts/models_retrain.png."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from evidence.store import LocalEvidenceStore
from models.registry import ENV_DIRS
from streetsight.cli import main
from streetsight.commands.train import ENV_PYTHON, INSTALL_HINT, find_train_python
from streetsight.config import parse_config
from streetsight.runtime import open_records
from tests.browser import PageLog, chromium, needs_chromium, screenshot, sign_in_by_keyboard
from tests.real_parts import missing_real_part
from tests.reviewed_records import add_reviewed_incidents
from tests.serve_thread import served_all
from tests.test_sources_live import wait_for

pytestmark = [*needs_chromium, pytest.mark.samples]
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "var" / "samples"
ADMIN_PASSWORD = "retrain-ui-admin"
PASSWORD = "retrain-ui-pass"


def reviewed_records(cfg, data: Path) -> None:
    """Six reviewed incidents of the dataset's images in the deployment's records, snapshots in its evidence."""
    repo, root = open_records(cfg)
    add_reviewed_incidents(repo, LocalEvidenceStore(root), data, id_format="inc_{n:016x}")


def test_a_trainer_retrains_from_the_ui_and_the_result_runs_in_shadow(tmp_path: Path, monkeypatch, capsys) -> None:
    python = find_train_python()
    if python is None:
        missing_real_part("no training venv (.venv-train); bin/test builds it (ensure_train_venv)\n" + INSTALL_HINT)
    if not (SAMPLES / "vtest.mp4").exists():
        missing_real_part("sample footage missing: python -m datasets.samples")
    data = tmp_path / "data"
    base = data / "datasets" / "urban" / "v1"
    assert main(["datasets", "synth", str(base), "--count", "40", "--size", "256", "--seed", "7",
                 "--frames-per-video", "12", "--videos", str(SAMPLES / "vtest.mp4"), str(SAMPLES / "bikes.mp4")]) == 0
    monkeypatch.setenv(ENV_PYTHON, str(python))
    monkeypatch.setenv(ENV_DIRS, str(tmp_path / "models"))  # where the result is registered, and found
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics"))
    monkeypatch.setenv("STREETSIGHT_ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("STREETSIGHT_PASSWORD", PASSWORD)
    cfg = parse_config({"storage": {"data_dir": str(data)}, "evidence": {"vehicle": {"plates": False}}})
    reviewed_records(cfg, base)
    config = tmp_path / "config.yaml"
    config.write_text(f"storage: {{data_dir: {data}}}\n")

    with served_all(cfg, ADMIN_PASSWORD, wait_for) as (admin, pipeline, worker):
        assert main(["users", "add", "trainer1", "--role", "trainer", "--config", str(config)]) == 0
        base_url = str(admin.base_url).rstrip("/")
        jobs = lambda: admin.get("/api/v1/training").json()["jobs"]  # noqa: E731
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            log = PageLog(page)
            sign_in_by_keyboard(page, base_url, "trainer1", PASSWORD)
            page.click("#tab-stats")
            page.wait_for_selector("#models-retrain:not([hidden])")
            assert page.locator("#retrain-dataset").input_value() == "urban"
            assert page.locator("#retrain-start").is_enabled() and page.locator("#retrain-reason").inner_text() == ""
            page.fill("#retrain-name", "")
            page.click("#retrain-name")
            page.keyboard.type("urban")
            page.fill("#retrain-epochs", "")
            page.click("#retrain-epochs")
            page.keyboard.type("1")
            page.fill("#retrain-imgsz", "")
            page.click("#retrain-imgsz")
            page.keyboard.type("160")

            # the first run is cancelled once it trains: its whole process group ends
            page.click("#retrain-start")
            page.wait_for_function("() => document.getElementById('retrain-status').textContent.includes('Started')")
            first = wait_for("the first job", lambda: jobs())[0]
            wait_for("the first run training", lambda: jobs()[0]["stage"] == "train", 300)
            pid = _pid_of(cfg, first["id"])  # (kept out of the API)
            assert pid is not None and os.getpgid(pid) == pid  # its own process group
            row = page.locator(f"#retrain-body tr[data-id='{first['id']}']")
            row.locator("button.retrain-cancel").click()
            page.wait_for_selector(f"#retrain-body tr[data-id='{first['id']}'][data-status='cancelled']", timeout=60000)
            wait_for("the cancelled run's processes to end", lambda: not _alive(pid), 60)
            assert jobs()[0]["error"] == "cancelled by a trainer"

            page.click("#retrain-start")  # again, to the end
            second = wait_for("the second job", lambda: [j for j in jobs() if j["id"] != first["id"]])[0]
            done = f"#retrain-body tr[data-id='{second['id']}'][data-status='succeeded']"
            seen_stages: set[str] = set()

            def finished() -> bool:
                job = next(j for j in jobs() if j["id"] == second["id"])
                seen_stages.add(job["stage"])
                assert job["status"] not in ("failed", "cancelled"), job["error"] + "\n" + (job["log_tail"] or "")
                return job["status"] == "succeeded"

            wait_for("the retraining to finish", finished, 1500)
            page.wait_for_selector(done, timeout=30000)
            job = next(j for j in jobs() if j["id"] == second["id"])
            with capsys.disabled():  # printed, never asserted
                print(f"\nretraining job (1 epoch, 160 px, 40 synthetic images + 6 reviews): queued {job['created_at']}, started "
                      f"{job['started_at']}, finished {job['finished_at']}")
            assert job["candidate"] == "urban.v1" and job["epoch"] == job["epochs"] == 1 and job["progress"] == 1.0
            assert {"train", "shadow"} <= seen_stages | {job["stage"]}
            assert set(job["result"]["evaluation"]) >= {"split", "map50", "map50_95", "precision", "recall"}
            # the reviews became the dataset's next version (v2 was made by the cancelled run before it trained)
            assert job["result"]["dataset"].endswith("urban/v3") and (tmp_path / "data/datasets/urban/v2").is_dir()
            cell = page.locator(f"{done} td").nth(6).inner_text()
            assert cell == "urban.v1 · 影子运行 in shadow"
            assert "[train] stage: register" in page.locator("#retrain-log").inner_text()  # the run's last lines
            screenshot(page, tmp_path, "models_retrain.png")
            assert log.unexpected("401", "403") == []  # the login; a trainer's role sees no cases or footage

        # in shadow mode in the running pipeline: a camera added now is analysed by both models
        wait_for("the pipeline to follow", lambda: pipeline.shadow is not None and pipeline.shadow.settings.model == "urban.v1")
        assert admin.get("/api/v1/models").json()["shadow"] == "urban.v1"  # recorded: kept across restarts
        assert worker.is_alive()
        camera = {"id": "cam-new", "url": str(SAMPLES / "vtest.mp4"), "analysis_fps": 2}
        assert admin.post("/api/v1/sources", json=camera).status_code == 201
        wait_for("the candidate on the new camera's frames", lambda: pipeline.shadow.candidate.frames > 0, 120)
        assert admin.get("/api/v1/models/compare").json()["candidate"] == "urban.v1"
        assert "urban.v1" in {m["name"] for m in admin.get("/api/v1/models").json()["models"]}
        audit = [(a["actor"], a["action"], a["after"]["job"]) for a in admin.get("/api/v1/audit").json()[::-1]
                 if a["action"].startswith("training.")]
        assert audit == [("trainer1", "training.start", first["id"]), ("trainer1", "training.cancel", first["id"]),
                         ("trainer1", "training.start", second["id"])]


def _pid_of(cfg, job_id: str) -> int | None:
    from api.db import create_engine_for, make_session_factory
    from api.training_jobs import TrainingJobs

    engine = create_engine_for(cfg.storage.resolved_database_url())
    try:
        return TrainingJobs(make_session_factory(engine)).pid_of(job_id)
    finally:
        engine.dispose()


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True
