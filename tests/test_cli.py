"""The `streetsight` CLI as a user calls it: a real subprocess, JSON on stdout, errors on stderr."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).with_name("data")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streetsight.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_detect_json_finds_vehicle_and_people_in_street_photo():
    photo = DATA / "vtest_frame100.jpg"
    done = run_cli("detect", str(photo), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert [r["image"] for r in result] == [str(photo)]
    dets = result[0]["detections"]
    assert set(dets[0]) == {"class", "class_id", "score", "box"}
    classes = [d["class"] for d in dets]
    assert classes.count("person") >= 4
    van = [d for d in dets if d["class"] in ("truck", "car", "bus") and d["box"][0] > 600 and d["box"][3] < 120]
    assert van, dets
    for d in dets:  # boxes in original pixels of the 768x576 frame
        x1, y1, x2, y2 = d["box"]
        assert 0 <= x1 < x2 <= 768 and 0 <= y1 < y2 <= 576


def test_detect_unreadable_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "not-an-image.jpg"
    bad.write_text("hello")
    done = run_cli("detect", str(bad))
    assert done.returncode == 2 and "cannot read image" in done.stderr


def test_invalid_config_names_the_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources:\n  - id: a\n    url: x.mp4\n    analysis_fps: -1\n")
    done = run_cli("analyze", str(DATA / "vtest_frame100.jpg"), "--config", str(cfg))
    assert done.returncode == 2
    assert "sources[0].analysis_fps" in done.stderr and "greater than 0" in done.stderr


def test_sources_check_reports_dead_source_without_crashing(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources:\n  - id: dead\n    url: rtsp://user:pw123@127.0.0.1:9/nothing\n")
    done = run_cli("sources", "check", "--config", str(cfg), "--timeout", "3")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report[0]["id"] == "dead" and report[0]["ok"] is False
    assert "pw123" not in done.stdout + done.stderr
    assert report[0]["url"] == "rtsp://user:***@127.0.0.1:9/nothing"


def test_sources_check_masks_a_password_holding_at(tmp_path):
    """FFmpeg reads the userinfo up to the last "@": the whole password is hidden, in the report and the log."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sources:\n  - id: dead\n    url: rtsp://admin:p@ssw0rd-Leak@127.0.0.1:9/nothing\n")
    done = run_cli("sources", "check", "--config", str(cfg), "--timeout", "3")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert "ssw0rd-Leak" not in done.stdout + done.stderr
    assert report[0]["url"] == "rtsp://admin:***@127.0.0.1:9/nothing"
