"""Test video made by the tests themselves: H.264 MP4s encoded with PyAV (libx264)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import numpy as np

FrameFn = Callable[[int, float], np.ndarray]


def moving_box_frame(width: int, height: int) -> FrameFn:
    """A grey street with a white box crossing it: enough texture for the encoder, cheap to draw."""

    def draw(i: int, t: float) -> np.ndarray:
        img = np.full((height, width, 3), 90, np.uint8)
        img[height // 2 :, :, :] = 60  # the road
        x = int((t * 40) % max(1, width - 40))
        img[height // 3 : height // 3 + 30, x : x + 40] = 230
        # a frame counter stripe so consecutive frames differ everywhere a little
        img[0:4, : (i * 7) % width] = 200
        return img

    return draw


def encode_h264(
    path: str | Path,
    seconds: float = 10.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    gop: int = 25,
    bframes: int = 0,
    frame_fn: FrameFn | None = None,
) -> Path:
    """Encode an H.264 MP4 at ``path``: constant ``fps``, a keyframe every ``gop`` frames."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    draw = frame_fn or moving_box_frame(width, height)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "bf": str(bframes),
            "preset": "ultrafast",
            "tune": "zerolatency" if bframes == 0 else "film",
        }
        encode_frames(out, stream, draw, int(round(seconds * fps)), fps)
    return path


def encode_frames(out: av.container.OutputContainer, stream: av.VideoStream, draw: FrameFn, n: int,
                  fps: int) -> None:
    """Encode ``n`` drawn frames at ``fps`` into ``stream`` and flush the encoder."""
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(draw(i, i / fps), format="bgr24")
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def camera_like_h264(dst: Path, draw: Callable[[int], np.ndarray], n: int, size: tuple[int, int], fps: int,
                     crf: int) -> Path:
    """``n`` BGR frames ``draw(i)`` as camera-like H.264 (1 s GOP, no B-frames) at ``dst``, written under a
    ``.part`` name first so that an interrupted run never leaves a truncated file for the next one to reuse."""
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"g": str(fps), "keyint_min": str(fps), "sc_threshold": "0", "bf": "0",
                          "preset": "veryfast", "crf": str(crf)}
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(draw(i), format="bgr24").reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.rename(dst)
    return dst


def first_seconds(src: Path, dst: Path, seconds: float) -> Path:
    """The first ``seconds`` of ``src``, remuxed (no re-encode)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for packet in inp.demux(s_in):
            if packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * s_in.time_base >= seconds:
                break
            packet.stream = s_out
            out.mux(packet)
    return dst
