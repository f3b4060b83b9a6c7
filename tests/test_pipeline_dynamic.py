"""Sources added and removed while the live pipeline runs (what scale-out leases do), on a real RTSP server."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from models.registry import ENV_DIRS
from streetsight.config import parse_config
from streetsight.pipeline import LivePipeline
from streetsight.runtime import Runtime
from tests.tiny_yolo import register_tiny_yolo

pytestmark = pytest.mark.rtsp


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s  # bounds a hung test; not a speed goal
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_sources_come_and_go_while_the_pipeline_runs(rtsp_urls, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_DIRS, str(register_tiny_yolo(tmp_path / "models")))
    cfg = parse_config({
        "sources": [{"id": f"cam{i}", "url": rtsp_urls["cam"], "decode": "keyframes"} for i in range(3)],
        "model": {"name": "tiny-yolo"},
        "storage": {"data_dir": str(tmp_path / "data")},
    })
    rt = Runtime.create(cfg)
    pipeline = LivePipeline(cfg, rt.detector, rt.recorder, start_sources=False, keep_running=True)
    by_id = {s.id: s for s in cfg.sources}
    assert pipeline.health() == []
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    try:
        time.sleep(0.5)
        assert runner.is_alive()  # keep_running: no sources is not the end
        pipeline.add_source(by_id["cam0"])
        pipeline.add_source(by_id["cam1"])
        pipeline.add_source(by_id["cam1"])  # twice: still one reader
        assert sorted(h["id"] for h in pipeline.health()) == ["cam0", "cam1"]

        def analysed(sid: str) -> int:
            return next((h["frames_analysed"] for h in pipeline.health() if h["id"] == sid), 0)

        wait_until(lambda: analysed("cam0") >= 2 and analysed("cam1") >= 2, 30, "frames from both sources")

        reader_thread = pipeline.sources["cam0"]
        assert pipeline.remove_source("cam0", handover=True)
        assert not reader_thread.alive  # reading stopped before remove_source returned
        assert not pipeline.remove_source("cam0")
        assert [h["id"] for h in pipeline.health()] == ["cam1"]
        before = analysed("cam1")
        wait_until(lambda: analysed("cam1") >= before + 2, 30, "the other source going on")

        pipeline.add_source(by_id["cam0"])  # taken back later: a fresh reader
        wait_until(lambda: analysed("cam0") >= 2, 30, "the re-added source analysed again")
        assert runner.is_alive()
    finally:
        pipeline.stop()
        runner.join(20)
    assert not runner.is_alive()
    assert all(not t.alive for t in pipeline.sources.values())
