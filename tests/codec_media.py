"""Footage in the codecs and containers cameras send, transcoded from a sample with PyAV's FFmpeg."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

VARIANT_S = 34.0  # seconds of vtest kept: the van's 20 s dwell, pre-roll and post-roll fit


@dataclass(frozen=True)
class Variant:
    format: str  # FFmpeg muxer
    suffix: str
    codec: str  # encoder
    pix_fmt: str
    options: dict[str, str]


GOP = {"g": "20", "keyint_min": "20", "sc_threshold": "0", "bf": "0"}  # 2 s at 10 fps, no B-frames: a camera
VARIANTS = {
    "hevc_mp4": Variant("mp4", ".mp4", "libx265", "yuv420p",
                        {"preset": "ultrafast", "x265-params": "keyint=20:min-keyint=20:bframes=0:log-level=error"}),
    "hevc_ts": Variant("mpegts", ".ts", "libx265", "yuv420p",
                       {"preset": "ultrafast", "x265-params": "keyint=20:min-keyint=20:bframes=0:log-level=error"}),
    "h264_ps": Variant("mpeg", ".mpg", "libx264", "yuv420p", {"preset": "veryfast", **GOP}),
    "mjpeg_avi": Variant("avi", ".avi", "mjpeg", "yuvj420p", {"q:v": "4"}),
}


def transcode(src: Path, out_dir: Path, name: str, seconds: float | None = None) -> Path:
    """``src`` re-encoded as variant ``name`` (see VARIANTS), constant frame rate, at most ``seconds``."""
    v = VARIANTS[name]
    out = out_dir / f"vtest-{name}{v.suffix}"
    if out.exists():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format=v.format) as dst:
        vin = inp.streams.video[0]
        rate = vin.average_rate or Fraction(25)
        vout = dst.add_stream(v.codec, rate=rate)
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, v.pix_fmt
        frame_tb = Fraction(1, int(round(float(rate))))
        vout.time_base = frame_tb
        vout.options = dict(v.options)
        if v.codec == "mjpeg":
            vout.bit_rate = 6_000_000
        limit = None if seconds is None else int(round(seconds * float(rate)))
        for i, frame in enumerate(inp.decode(vin)):
            if limit is not None and i >= limit:
                break
            frame = frame.reformat(format=v.pix_fmt)
            frame.pts, frame.time_base = i, frame_tb
            dst.mux(vout.encode(frame))
        dst.mux(vout.encode(None))
    tmp.rename(out)
    return out
