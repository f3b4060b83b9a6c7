"""The streams benchmark's CPU floor: model and keyframe-decode costs measured, and the ratio they allow."""
from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from models.detector import OnnxDetector
from streetsight.bench.streams import DecodeCost, cpu_floor, keyframe_decode_cost, keyframe_decode_ms
from tests.media import encode_h264


def full_decode_cost(media: Path) -> DecodeCost:
    """Every frame of ``media`` decoded on one thread, as a reader that skips nothing would."""
    with av.open(str(media)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        t0 = time.process_time()
        frames = sum(1 for _ in container.decode(stream))
        return DecodeCost(frames, time.process_time() - t0)


def test_keyframe_decoding_decodes_only_keyframes_and_costs_less_than_every_frame(tmp_path: Path) -> None:
    # 4 s at 25 fps, GOP 25: 100 frames, 4 of them keyframes; asking for 40 decodes the 4 there are
    clip = encode_h264(tmp_path / "c.mp4", seconds=4, size=(640, 360), gop=25)
    keyframes, every = keyframe_decode_cost(clip, keyframes=40), full_decode_cost(clip)
    assert (keyframes.frames, every.frames) == (4, 100)
    # CPU time, not wall time: the 4 keyframes are part of the 100 frames, so decoding them alone must cost
    # well under the whole (about a tenth here); a reader that decoded every frame would not pass
    assert 0.0 < keyframes.cpu_s < every.cpu_s / 2
    assert keyframe_decode_ms(clip, keyframes=40) > 0.0


def test_floor_is_model_plus_decode_at_the_analysed_rate() -> None:
    # 60 frames in a 30 s window, 1.2 s of model CPU: 20 ms a frame; decode 10 ms; 0.5 fps = 30 frames/min
    ours = {"inference_fps": 2.0, "window_s": 30.0, "model_cpu_s": 1.2, "cpu_s_per_stream_minute": 1.5}
    floor = cpu_floor(ours, {"cpu_s_per_stream_minute": 6.0}, decode_ms=10.0, keyframe_fps=0.5)
    assert floor["model_ms_per_frame"] == pytest.approx(20.0)
    assert floor["model_s_per_stream_minute"] == pytest.approx(0.6)
    assert floor["decode_s_per_stream_minute"] == pytest.approx(0.3)
    assert floor["floor_s_per_stream_minute"] == pytest.approx(0.9)
    assert floor["rest_s_per_stream_minute"] == pytest.approx(0.6)
    assert floor["ratio_ceiling"] == pytest.approx(6.67)
    assert cpu_floor(ours, None, 10.0, 0.5)["ratio_ceiling"] is None


def test_detector_counts_model_cpu_time() -> None:
    det = OnnxDetector.from_registry("nanodet-coco", threads=1)
    before = det.session_cpu_seconds
    det.detect([np.zeros((360, 640, 3), np.uint8)] * 2)
    assert det.session_cpu_seconds > before
    assert det.session_cpu_seconds <= det.session_seconds + 0.05  # one thread: CPU no more than wall time
