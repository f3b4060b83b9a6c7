"""End to end on a tiny synthetic dataset: generate -> `streetsight train` (hands over to the training venv:
train 2 epochs, export ONNX, evaluate, register, promote) -> `streetsight detect` and `analyze` use the model
by name -> its manifest describes it (serving's input tensor and detections equal Ultralytics' own).

Needs the training venv (torch + ultralytics): bin/test builds it (ensure_train_venv); under CI a missing
venv fails the test instead of skipping it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets.manifest import read_manifest
from models.manifest import load_manifest_file
from common.hashing import sha256_file
from streetsight.cli import main as cli
from streetsight.commands.train import INSTALL_HINT, find_train_python
from tests.media import encode_h264
from tests.real_parts import missing_real_part

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "var" / "samples"
NAME = "e2e-urban"
IMGSZ = 160

pytestmark = pytest.mark.samples


@pytest.fixture(scope="module")
def train_python() -> Path:
    python = find_train_python()
    if python is None:
        missing_real_part("no training venv (.venv-train); bin/test builds it (ensure_train_venv)\n" + INSTALL_HINT)
    return python


@pytest.fixture(scope="module")
def trained(train_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not (SAMPLES / "vtest.mp4").exists():
        missing_real_part("sample footage missing: python -m datasets.samples")
    tmp = tmp_path_factory.mktemp("e2e")
    data = tmp / "dataset"
    assert cli(["datasets", "synth", str(data), "--count", "40", "--size", "256", "--seed", "7",
                "--frames-per-video", "12", "--videos", str(SAMPLES / "vtest.mp4"), str(SAMPLES / "bikes.mp4")]) == 0
    env = {**os.environ, "STREETSIGHT_TRAIN_PYTHON": str(train_python), "YOLO_CONFIG_DIR": str(tmp / "ultralytics")}
    env.pop("STREETSIGHT_MODEL_DIRS", None)
    cmd = [sys.executable, "-m", "streetsight.cli", "train", "run", str(data), "--name", NAME, "--epochs", "2",
           "--imgsz", str(IMGSZ), "--batch", "8", "--workers", "0", "--cache", "none",
           "--versions-dir", str(tmp / "models"), "--project", str(tmp / "runs")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    run_dir = tmp / "runs" / f"{NAME}.v1"
    return {"tmp": tmp, "data": data, "run": run_dir, "models": tmp / "models", "env": env, "proc": proc,
            "summary": json.loads((run_dir / "summary.json").read_text())}


def test_training_run_leaves_plots_progress_and_an_evaluation(trained: dict) -> None:
    run = trained["run"]
    for plot in ("results.png", "labels.jpg", "confusion_matrix.png", "train_batch0.jpg"):
        assert (run / plot).is_file(), plot
    progress = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    assert [p["epoch"] for p in progress] == [1, 2, "best"]  # "best": the closing validation of best.pt
    assert "[train] epoch 2/2" in trained["proc"].stderr  # the one-line progress display
    report = json.loads((run / "eval-test" / "evaluation.json").read_text())
    names = read_manifest(trained["data"])["classes"]
    assert report["split"] == "test" and set(report["metrics"]) == {"map50", "map50_95", "precision", "recall"}
    assert list(report["per_class"]) == names
    assert len(report["confusion_matrix"]["matrix"]) == len(names) + 1
    assert (run / "eval-test" / "confusion_matrix.png").is_file()
    assert "| class | instances | precision | recall | mAP50 | mAP50-95 |" in (run / "eval-test" / "evaluation.md").read_text()


def test_training_stays_offline(trained: dict) -> None:
    settings_dir = trained["tmp"] / "ultralytics" / "Ultralytics"
    font = settings_dir / "Arial.ttf"
    assert font.is_file() and font.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType font we placed
    settings = json.loads((settings_dir / "settings.json").read_text())
    assert settings["sync"] is False
    text = trained["proc"].stdout + trained["proc"].stderr
    assert "Downloading" not in text and "AutoUpdate" not in text


def test_registered_manifest_describes_the_model(trained: dict) -> None:
    names = read_manifest(trained["data"])["classes"]
    for directory, version_name in ((trained["models"] / f"{NAME}.v1", f"{NAME}.v1"), (trained["models"] / NAME, NAME)):
        m = load_manifest_file(directory / "manifest.json")
        assert m.name == version_name and m.version == "v1" and m.decoder == "yolo" and m.task == "detect"
        assert m.class_names == names
        assert (m.input.width, m.input.height, m.input.color_order, m.input.resize) == (IMGSZ, IMGSZ, "RGB", "letterbox")
        assert m.sha256 == sha256_file(directory / "model.onnx").sha256
        assert m.license.model == "AGPL-3.0"
        assert m.source["dataset"]["content_sha256"] == read_manifest(trained["data"])["content_sha256"]
        assert set(m.source["evaluation"]["metrics"]) == {"map50", "map50_95", "precision", "recall"}
    promoted = load_manifest_file(trained["models"] / NAME / "manifest.json")
    assert promoted.source["promoted_from"] == f"{NAME}.v1"
    assert trained["summary"]["promotion"]["promoted"] is True


def test_detect_and_analyze_use_the_model_by_name(trained: dict, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("STREETSIGHT_MODEL_DIRS", str(trained["models"]))
    names = read_manifest(trained["data"])["classes"]
    image = sorted((trained["data"] / "images" / "test").glob("*.jpg"))[0]
    assert cli(["detect", str(image), "--model", NAME, "--json", "--min-score", "0.0001"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0]["image"] == str(image)
    assert all(d["class"] in names and d["class"] == names[d["class_id"]] for d in out[0]["detections"])
    # the pipeline takes it from the configuration alone
    video = encode_h264(trained["tmp"] / "clip.mp4", seconds=2, fps=10, size=(320, 240))
    config = trained["tmp"] / "config.yaml"
    config.write_text(f"""
sources:
  - id: cam-1
    url: {video}
    analysis_fps: 2
    zones:
      - id: z
        events: [illegal_parking]
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]
rules:
  illegal_parking:
    classes: [vendor_stall]
model:
  name: {NAME}
storage:
  data_dir: {trained['tmp'] / 'data'}
""")
    assert cli(["analyze", str(video), "--config", str(config)]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_serving_matches_ultralytics_on_the_exported_model(trained: dict, train_python: Path) -> None:
    image = sorted((trained["data"] / "images" / "test").glob("*.jpg"))[0]
    env = {**trained["env"], "STREETSIGHT_MODEL_DIRS": str(trained["models"]), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([str(train_python), str(REPO / "tests" / "training_agreement.py"), NAME, str(image)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["input_max_abs_diff"] < 1e-6  # the manifest's pre-processing is Ultralytics' letterbox exactly
    ours, theirs = r["ours"], r["ultralytics"]
    assert len(ours["scores"]) == len(theirs["scores"]) > 0
    assert ours["cls"] == theirs["cls"]
    assert ours["scores"] == pytest.approx(theirs["scores"], abs=1e-4)
    for a, b in zip(ours["xyxy"], theirs["xyxy"]):
        assert a == pytest.approx(b, abs=0.5)


def test_promotion_only_when_better(trained: dict) -> None:
    # the same version against itself in service: equal, so not promoted
    cmd = [sys.executable, "-m", "streetsight.cli", "train", "promote", "--name", NAME, "--version", "v1",
           "--data", str(trained["data"]), "--versions-dir", str(trained["models"]),
           "--out", str(trained["tmp"] / "promo")]
    proc = subprocess.run(cmd, env=trained["env"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3, proc.stderr[-3000:]
    decision = json.loads((trained["tmp"] / "promo" / "comparison.json").read_text())
    assert decision["promoted"] is False and "not better" in decision["reason"]
    assert decision["candidate_metrics"] == decision["current_metrics"]
    log = [json.loads(line) for line in (trained["models"] / "promotions.jsonl").read_text().splitlines()]
    assert [entry["promoted"] for entry in log] == [True, False]


def test_feedback_loop_reviews_to_a_compared_candidate(trained: dict) -> None:
    """Review decisions in real records -> dataset v1 beside the base -> 1 epoch -> compared with e2e-urban
    (in service) on the new version's test split -> the decision is logged either way."""
    from api.db import create_engine_for, init_db, make_session_factory
    from api.repository import IncidentRepository
    from evidence.store import LocalEvidenceStore
    from tests.reviewed_records import add_reviewed_incidents

    tmp, names = trained["tmp"], read_manifest(trained["data"])["classes"]
    data_dir = tmp / "records"
    engine = create_engine_for(f"sqlite:///{data_dir / 'streetsight.db'}")
    init_db(engine)
    repo = IncidentRepository(make_session_factory(engine))
    store = LocalEvidenceStore(data_dir / "evidence")
    add_reviewed_incidents(repo, store, trained["data"])
    config = tmp / "loop.yaml"
    config.write_text(f"storage:\n  data_dir: {data_dir}\n")
    cmd = [sys.executable, "-m", "streetsight.cli", "train", "loop", "--config", str(config),
           "--base", str(trained["data"]), "--dataset-root", str(tmp / "urban"), "--name", NAME,
           "--versions-dir", str(trained["models"]), "--epochs", "1", "--imgsz", str(IMGSZ), "--batch", "8",
           "--workers", "0", "--cache", "none", "--project", str(tmp / "runs")]
    proc = subprocess.run(cmd, env=trained["env"], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    new = tmp / "urban" / "v1"
    manifest = read_manifest(new)
    assert len(manifest["parents"]) == 2 and manifest["classes"] == names
    decision = json.loads((tmp / "runs" / f"{NAME}.v2" / "promotion" / "comparison.json").read_text())
    assert decision["candidate"]["name"] == f"{NAME}.v2"
    assert decision["current"]["version"] == "v1"  # the model in service was evaluated too ...
    assert decision["current_metrics"] is not None  # ... on the same split of the new version
    assert decision["dataset"]["content_sha256"] == manifest["content_sha256"]
    log = [json.loads(line) for line in (trained["models"] / "promotions.jsonl").read_text().splitlines()]
    assert log[-1]["candidate"]["name"] == f"{NAME}.v2" and log[-1]["promoted"] == decision["promoted"]
    promoted = load_manifest_file(trained["models"] / NAME / "manifest.json")
    assert promoted.version == ("v2" if decision["promoted"] else "v1")
