"""The `streetsight` CLI as a user calls it: a real subprocess, JSON on stdout, errors on stderr."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

DATA = Path(__file__).with_name("data")


def run_cli(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streetsight.cli", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


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


def _local_config(tmp_path, extra: str = "") -> str:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"storage:\n  data_dir: {tmp_path / 'var'}\n" + extra)
    return str(cfg)


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory) -> dict[str, str]:
    """A local-disk config with user bob, and one whose model name is unknown."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "m").mkdir()
    env = {"cfg": _local_config(folder),
           "bad_model": _local_config(folder / "m", "model:\n  name: no-such-model\nsources: [{id: a, url: a.mp4}]\n")}
    added = run_cli("users", "add", "bob", "--role", "admin", "--config", env["cfg"], input="correct horse 42\n")
    assert added.returncode == 0, added.stderr
    return env


FRAME = str(DATA / "vtest_frame100.jpg")


@pytest.mark.parametrize("args, expected", [
    # an unknown model names the registered ones
    (("analyze", FRAME, "--config", "{bad_model}"), ["model 'no-such-model' is not registered", "nanodet-coco"]),
    (("detect", FRAME, "--model", "no-such-model"), ["known: [", "nanodet-coco"]),
    # an evidence key must stay inside the store
    (("evidence", "link", "../../x", "--config", "{cfg}"), ["'..' segments", "../../x"]),
    (("evidence", "protect", "2026/../../etc", "--config", "{cfg}"), ["'..' segments"]),
    # --expires 0 silently gave the default 3600 s; --days 1e12 overflowed; --days -1 issued an expired token
    (("evidence", "link", "a/b.jpg", "--expires", "0", "--config", "{cfg}"), ["--expires", "out of range"]),
    (("users", "token", "bob", "--days", "1e12", "--config", "{cfg}"), ["--days", "at most 3650 days"]),
    (("users", "token", "bob", "--days", "-1", "--config", "{cfg}"), ["--days", "out of range"]),
    (("users", "token", "bob", "--days", "nan", "--config", "{cfg}"), ["--days", "out of range"]),
], ids=["unknown-model-analyze", "unknown-model-detect", "link-escaping-key", "protect-escaping-key",
        "link-expires-0", "token-days-1e12", "token-days-negative", "token-days-nan"])
def test_cli_mistakes_are_one_line_with_exit_2_and_no_traceback(cli_env, args, expected):
    done = run_cli(*(a.format(**cli_env) for a in args))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == "", done.stderr
    last = done.stderr.strip().splitlines()[-1]  # what came before is the log (INFO lines)
    assert last.startswith(f"streetsight {args[0]}"), done.stderr
    for fragment in expected:
        assert fragment in last, done.stderr


def test_evidence_link_lives_as_long_as_asked(tmp_path):
    cfg = _local_config(tmp_path)
    done = run_cli("evidence", "link", "a/b.jpg", "--expires", "60", "--config", cfg)
    assert done.returncode == 0, done.stderr
    expires_at = int(re.search(r"expires=(\d+)", done.stdout).group(1))
    assert expires_at - time.time() < 600  # 60 s asked; the default would be 3600
    from streetsight.config import load_config
    from streetsight.evidence_backend import build_evidence_backend

    backend = build_evidence_backend(load_config(cfg).storage)
    with pytest.raises(ValueError, match="expires_s"):
        backend.presign("a/b.jpg", 0)  # 0 is refused, not the default in disguise


def test_serve_refuses_dispatch_with_relative_evidence_links(tmp_path):
    cfg = _local_config(tmp_path, "dispatch:\n  url: http://127.0.0.1:9/cases\n")
    done = run_cli("serve", "--config", cfg, "--port", "9", timeout=120)  # before: it served
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cases.public_base_url: required when dispatch.url is set" in done.stderr
