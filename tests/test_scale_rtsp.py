"""The live pipeline on a real RTSP server: positions on moving cameras' frames, back-pressure when the
model falls behind, per-source metrics."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from models.registry import ENV_DIRS
from streams.frames import Frame
from streetsight.config import parse_config
from streetsight.pipeline import LivePipeline
from streetsight.runtime import Runtime
from tests.tiny_yolo import register_tiny_yolo

pytestmark = pytest.mark.rtsp


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition``; the timeout only bounds a hung test, it is not a performance limit."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start(pipeline: LivePipeline) -> threading.Thread:
    worker = threading.Thread(target=pipeline.run, name="pipeline", daemon=True)
    worker.start()
    return worker


def record_frames(pipeline: LivePipeline) -> dict[str, list[Frame]]:
    """Keep every frame each source's analysis receives (wrapping, not replacing, its handler)."""
    seen: dict[str, list[Frame]] = {sid: [] for sid in pipeline.analyses}
    for sid, analysis in pipeline.analyses.items():
        original = analysis.handle

        def handle(frame, detections, recorder, _original=original, _sid=sid):
            seen[_sid].append(frame)
            return _original(frame, detections, recorder)

        analysis.handle = handle  # type: ignore[method-assign]
    return seen


def test_enforcement_frames_carry_the_nearest_position(rtsp_urls: dict[str, str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DIRS, str(register_tiny_yolo(tmp_path / "models")))
    cfg = parse_config({
        "sources": [
            {"id": "fixed", "url": rtsp_urls["cam"], "kind": "cctv", "decode": "keyframes"},
            {"id": "body-1", "url": rtsp_urls["cam"], "kind": "enforcement", "analysis_fps": 4},
        ],
        "model": {"name": "tiny-yolo"},
        "storage": {"data_dir": str(tmp_path / "data")},
        "streams": {"position_max_skew_s": 30},
    })
    rt = Runtime.create(cfg)
    pipeline = LivePipeline(cfg, rt.detector, rt.recorder)
    seen = record_frames(pipeline)
    now = time.time()
    # a device reporting every second, from before the stream to well after the test
    for k in range(-5, 60):
        pipeline.report_position("body-1", 121.0 + k * 1e-4, 31.0, now + k)
    with pytest.raises(ValueError, match="fixed camera"):
        pipeline.report_position("fixed", 121.0, 31.0, now)
    with pytest.raises(LookupError):
        pipeline.report_position("nope", 121.0, 31.0, now)
    worker = start(pipeline)
    try:
        wait_until(lambda: len(seen["body-1"]) >= 8 and len(seen["fixed"]) >= 2, 60, "frames of both sources")
    finally:
        pipeline.stop()
        worker.join(30)
    assert not worker.is_alive()
    for frame in seen["body-1"]:
        pos = frame.extras["position"]
        assert set(pos) == {"lng", "lat", "timestamp"}
        assert abs(pos["timestamp"] - frame.wall_time) <= 0.5 + 1e-6  # reports are 1 s apart: the nearest
        assert pos["lng"] == pytest.approx(121.0 + round(pos["timestamp"] - now) * 1e-4)
    assert all("position" not in f.extras for f in seen["fixed"])


def test_model_falling_behind_drops_oldest_frames_and_counts_them(rtsp_urls: dict[str, str], tmp_path: Path) -> None:
    # 4 sources x 25 fps of frames for a real model that takes ~30-40 ms a frame on one thread
    cfg = parse_config({
        "sources": [{"id": f"cam-{i}", "url": rtsp_urls["cam"], "decode": "all", "analysis_fps": 25}
                    for i in range(4)],
        "model": {"name": "nanodet-coco", "threads": 1, "max_batch": 4},
        "storage": {"data_dir": str(tmp_path / "data")},
        "streams": {"queue_frames": 2},
    })
    rt = Runtime.create(cfg)
    pipeline = LivePipeline(cfg, rt.detector, rt.recorder)
    worker = start(pipeline)
    most_pending = 0
    try:
        def enough() -> bool:
            nonlocal most_pending
            most_pending = max(most_pending, pipeline.queue.pending())
            h = pipeline.health()
            return all(s["dropped_frames"] >= 5 and s["frames_analysed"] >= 5 for s in h)

        wait_until(enough, 60, "drops and analysis on every source")
        registry = CollectorRegistry()
        registry.register(pipeline.metrics)
        text = generate_latest(registry).decode()
    finally:
        pipeline.stop()
        worker.join(30)
    assert most_pending <= 2 * 4  # bounded: queue_frames per source
    health = {h["id"]: h for h in pipeline.health()}
    for sid, h in health.items():
        assert f'streetsight_source_dropped_frames_total{{source="{sid}"}}' in text
        # every frame handed over was either analysed, dropped, or still queued when stopped
        assert h["analysed_frames"] + h["dropped_frames"] <= h["decoded_frames"]
    assert "streetsight_inference_batch_size_count" in text
    assert not worker.is_alive()
