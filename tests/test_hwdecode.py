"""Hardware decoding of analysed frames: the probe, the CPU fallback, and a device that disappears.

No GPU or VAAPI device exists on the CI machine, so these tests drive the real FFmpeg failure of a
missing device; on a machine with a working CUDA device the fallback tests are skipped."""
from __future__ import annotations

import logging

import av
import cv2
import numpy as np
import pytest

from streams import hwdecode
from streams.hwdecode import HardwareDecoding
from streams.live import ThreadedSource
from streams.reader import SourceReader, to_bgr
from streetsight.config import ConfigError, parse_config
from tests.media import encode_h264
from tests.test_streams import take


def _cuda_decodes() -> bool:
    return "cuda" in hwdecode.device_types() and hwdecode._probe("cuda", None)[0]


needs_no_cuda = pytest.mark.skipif("cuda" not in hwdecode.device_types() or _cuda_decodes(),
                                   reason="needs an FFmpeg with cuda support and no working CUDA device")


def test_unknown_device_type_names_the_field() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"sources": [], "streams": {"hwaccel": "nvdecc"}})
    assert "streams.hwaccel" in str(exc.value) and "nvdecc" in str(exc.value)


def test_nv12_frames_convert_like_i420(tmp_path) -> None:
    clip = encode_h264(tmp_path / "c.mp4", seconds=0.2, size=(320, 240))
    with av.open(str(clip)) as container:
        frame = next(container.decode(video=0))
    i420 = to_bgr(frame)
    nv12 = to_bgr(frame.reformat(format="nv12"))
    assert nv12.shape == i420.shape == (240, 320, 3)
    assert np.abs(nv12.astype(int) - i420.astype(int)).max() <= 2
    assert cv2.mean(i420)[:3] == pytest.approx(cv2.mean(nv12)[:3], abs=0.5)


@pytest.mark.rtsp
@needs_no_cuda
def test_missing_device_is_probed_once_and_frames_decode_on_the_cpu(
        rtsp_urls: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    hw = HardwareDecoding("cuda")
    readers = [SourceReader(f"cam{i}", rtsp_urls["cam"], analysis_fps=None, decode="keyframes", hwdecode=hw)
               for i in range(2)]
    with caplog.at_level(logging.INFO, logger="streams.hwdecode"):
        for reader in readers:
            with ThreadedSource(reader, queue_size=16) as source:
                assert len(take(source, 2)) == 2
    assert all(r.health.decoder == "cpu" and r.health.reconnects == 0 for r in readers)
    lines = [r for r in caplog.records if r.name == "streams.hwdecode"]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "cuda unavailable" in lines[0].getMessage()


@pytest.mark.rtsp
@needs_no_cuda
def test_device_that_disappears_costs_one_reconnect(
        rtsp_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe passed once (as on a GPU node), then the device is gone: the first open fails in FFmpeg
    for real, the reader backs off, re-probes, and streams on the CPU."""
    real_probe = hwdecode._probe
    answers = iter([(True, None)])
    monkeypatch.setattr(hwdecode, "_probe", lambda t, d: next(answers, None) or real_probe(t, d))
    hw = HardwareDecoding("cuda", recheck_after_s=0.0)
    reader = SourceReader("cam", rtsp_urls["cam"], analysis_fps=None, decode="keyframes", hwdecode=hw,
                          backoff_initial_s=0.1, backoff_max_s=0.2)
    with ThreadedSource(reader, queue_size=16) as source:
        assert len(take(source, 2)) == 2
    assert reader.health.connect_attempts == 2
    assert reader.health.decoder == "cpu"
    assert hw.hwaccel() is None and hw.why_not


@pytest.mark.skipif("cuda" not in hwdecode.device_types(), reason="this FFmpeg has no cuda support")
def test_recheck_waits_for_its_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline cameras fail their connections too: they must not re-probe the device on every attempt."""
    probes = []
    monkeypatch.setattr(hwdecode, "_probe", lambda t, d: probes.append(t) or (True, None))
    hw = HardwareDecoding("cuda", recheck_after_s=3600)
    assert hw.hwaccel() is not None
    for _ in range(5):
        hw.recheck()
        assert hw.hwaccel() is not None
    assert probes == ["cuda"]
    hw.recheck_after_s = 0.0
    hw.recheck()
    hw.hwaccel()
    assert probes == ["cuda", "cuda"]
