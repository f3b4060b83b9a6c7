"""Fixtures shared by the scenario tests (import them into a test module to use them)."""
from __future__ import annotations

from pathlib import Path

import pytest
from tests.real_parts import missing_real_part


@pytest.fixture(scope="session")
def vtest_mp4() -> Path:
    """The sample street clip (as camera-like H.264), fetched by datasets/samples.py."""
    from datasets.samples import fetch_samples

    try:
        return fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    except Exception as exc:  # pragma: no cover - only without Debian's opencv-doc
        missing_real_part(f"sample footage unavailable: {exc}")


@pytest.fixture(scope="session")
def vtest_avi() -> Path:
    """OpenCV's original vtest.avi: MS-MPEG4 v3 in AVI, one keyframe every 25 s."""
    from datasets.samples import fetch_vtest_avi

    try:
        return fetch_vtest_avi(Path("var/samples"))
    except Exception as exc:  # pragma: no cover - only without Debian's opencv-doc
        missing_real_part(f"sample footage unavailable: {exc}")


@pytest.fixture(scope="session")
def vtest_variants(vtest_avi: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The vtest street footage as cameras and recorders deliver it, made once per session with PyAV.

    ``hevc_mp4``: H.265 in MP4 (FFmpeg's default tag hev1), ``h264_ps``: H.264 in MPEG-PS (what GB/T
    28181 gateways carry), ``mjpeg_avi``: MJPEG in AVI, ``hevc_ts``: H.265 in MPEG-TS. The first
    ``VARIANT_S`` seconds only: the van's 20 s dwell is reached within them, and encoding costs less.
    """
    from tests.codec_media import VARIANT_S, transcode

    out = tmp_path_factory.mktemp("vtest-variants")
    return {name: transcode(vtest_avi, out, name, seconds=VARIANT_S)
            for name in ("hevc_mp4", "h264_ps", "mjpeg_avi", "hevc_ts")}


@pytest.fixture(scope="session")
def cjk_font() -> Path:
    """A CJK font from Debian (fonts-wqy-zenhei or fonts-noto-cjk), for plates and shop signs."""
    from datasets.plates import NoCjkFont, cjk_font_path

    try:
        return cjk_font_path()
    except NoCjkFont as exc:
        missing_real_part(str(exc))
