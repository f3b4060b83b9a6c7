"""Camera-like H.264 for benchmarks, encoded here with PyAV (libx264) and cached under ``var/bench/media``.

Like a city CCTV stream: constant frame rate, a closed GOP of fixed length, no B-frames, about 2 Mbit/s
at 720p, and sensor noise on every frame (a noiseless synthetic clip would make decoding unrealistically
cheap). The picture is the sample street footage (``var/samples/vtest.mp4``) scaled up when it is there,
otherwise a drawn street. A short unit is encoded once and repeated by remuxing (no re-encoding) to the
length asked for.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

SAMPLE = Path("var/samples/vtest.mp4")
UNIT_S = 20  # seconds encoded; the rest is this unit repeated


def camera_clip(folder: str | Path, seconds: float, size: tuple[int, int] = (1280, 720), fps: int = 25,
                gop: int = 50, bitrate_kbps: int = 2000, sample: Path | None = SAMPLE) -> Path:
    """An MP4 of at least ``seconds`` (cached by its parameters), keyframes every ``gop`` frames."""
    width, height = size
    unit_frames = gop * max(1, round(UNIT_S * fps / gop))  # whole GOPs, so repeats stay decodable
    repeats = max(1, int(np.ceil(seconds * fps / unit_frames)))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"cam-{width}x{height}-{fps}fps-gop{gop}-{bitrate_kbps}k"
    unit = folder / f"{name}-unit{unit_frames}.mp4"
    target = folder / f"{name}-{unit_frames * repeats}f.mp4"
    if target.exists():
        return target
    if not unit.exists():
        log.info("encoding %s (%d frames)", unit, unit_frames)
        _encode_unit(unit, unit_frames, width, height, fps, gop, bitrate_kbps, sample)
    _repeat(unit, target, repeats)
    return target


def _pictures(width: int, height: int, sample: Path | None):
    """An endless sequence of BGR pictures at 10 per second of video."""
    if sample is not None and sample.exists():
        with av.open(str(sample)) as c:
            frames = [cv2.resize(f.to_ndarray(format="bgr24"), (width, height), interpolation=cv2.INTER_LINEAR)
                      for _, f in zip(range(200), c.decode(video=0))]
    else:  # a drawn street: road, kerb, and a few boxes that move
        base = np.full((height, width, 3), 110, np.uint8)
        base[height // 2:] = 70
        base[height // 2 - 6:height // 2] = 170
        frames = []
        for i in range(200):
            img = base.copy()
            for k in range(4):
                x = int((i * (6 + 3 * k) + k * width // 4) % width)
                y = height // 2 + k * height // 10
                img[y:y + height // 12, x:x + width // 10] = (40 + 50 * k, 200 - 40 * k, 120)
            frames.append(img)
    while True:
        yield from frames


def _encode_unit(path: Path, n: int, width: int, height: int, fps: int, gop: int, kbps: int,
                 sample: Path | None) -> None:
    rng = np.random.default_rng(0)
    noise = [rng.integers(-6, 7, (height, width, 3), dtype=np.int16) for _ in range(5)]
    pictures = _pictures(width, height, sample)
    picture = next(pictures)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.bit_rate = kbps * 1000
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "0",
                          "preset": "veryfast", "tune": "zerolatency", "maxrate": f"{int(kbps * 1.25)}k",
                          "bufsize": f"{kbps * 2}k"}
        for i in range(n):
            if i * 10 // fps != (i - 1) * 10 // fps:
                picture = next(pictures)
            img = np.clip(picture.astype(np.int16) + noise[i % len(noise)], 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.replace(path)


def _repeat(unit: Path, target: Path, repeats: int) -> None:
    tmp = target.with_suffix(".tmp.mp4")
    with av.open(str(unit)) as src, av.open(str(tmp), "w", format="mp4") as out:
        s_in = src.streams.video[0]
        packets = [p for p in src.demux(s_in) if p.size and p.dts is not None]
        span = max(p.pts for p in packets) - min(p.pts for p in packets) + (packets[1].pts - packets[0].pts)
        first_dts = packets[0].dts
        s_out = out.add_stream_from_template(s_in)
        for k in range(repeats):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts = p.pts - first_dts + k * span, p.dts - first_dts + k * span
                q.duration = p.duration
                q.time_base = p.time_base
                q.is_keyframe = p.is_keyframe
                q.stream = s_out
                out.mux(q)
    tmp.replace(target)
