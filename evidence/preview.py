"""Browser-playable previews: a short, scaled-down H.264 MP4 made from a clip a browser cannot play.

The clip stays the evidence of record (the camera's own packets); the preview is a convenience for the
review UI, since browsers play H.264 in MP4 but not H.265, MJPEG or MS-MPEG4. Making one decodes and
encodes, so it runs on one worker thread with single-threaded codecs, off the analysis thread.
"""
from __future__ import annotations

import logging
import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from common.hashing import sha256_file

log = logging.getLogger(__name__)

CONTENT_TYPE = "video/mp4"
PLAYABLE_CODECS = frozenset({"h264"})  # clips in these codecs play in browsers as they are
_TIME_BASE = Fraction(1, 1000)


def needs_preview(codec: str) -> bool:
    return codec not in PLAYABLE_CODECS


@dataclass(frozen=True, slots=True)
class PreviewInfo:
    path: Path
    frames: int
    width: int
    height: int
    sha256: str
    size: int


def make_preview(clip: str | Path, path: str | Path, *, max_width: int = 640, max_s: float = 60.0) -> PreviewInfo:
    """Decode ``clip`` (any container and codec FFmpeg reads) and encode its first ``max_s`` seconds as
    H.264 (yuv420p, no B-frames, moov first) at most ``max_width`` wide, keeping the clip's timing."""
    clip, path = Path(clip), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    frames = 0
    try:
        with av.open(str(clip)) as src, av.open(str(tmp), "w", format="mp4",
                                                options={"movflags": "+faststart"}) as out:
            vin = src.streams.video[0]
            vin.codec_context.thread_count = 1
            width, height = _size(vin.codec_context.width, vin.codec_context.height, max_width)
            rate = vin.average_rate or vin.base_rate or Fraction(25)
            vout = out.add_stream("libx264", rate=rate)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            vout.time_base = _TIME_BASE
            vout.codec_context.thread_count = 1
            gop = max(1, int(round(float(rate) * 2)))
            vout.options = {"preset": "veryfast", "crf": "28", "bf": "0", "g": str(gop), "threads": "1"}
            first: float | None = None
            last_pts = -1
            for frame in src.decode(vin):
                if frame.time is None:
                    continue
                first = frame.time if first is None else first
                if frame.time - first > max_s:
                    break
                pts = int(round((frame.time - first) / _TIME_BASE))
                if pts <= last_pts:
                    continue  # the encoder refuses a timestamp that does not increase
                last_pts = pts
                picture = frame.reformat(width=width, height=height, format="yuv420p", threads=1)
                picture.pts, picture.time_base = pts, _TIME_BASE
                out.mux(vout.encode(picture))
                frames += 1
            if not frames:
                raise ValueError(f"no frame could be decoded from {clip.name}")
            out.mux(vout.encode(None))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sha256, size = sha256_file(path)
    return PreviewInfo(path=path, frames=frames, width=width, height=height, sha256=sha256, size=size)


def _size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """At most ``max_width`` wide, aspect kept, both even (yuv420p)."""
    if width > max_width:
        height = round(height * max_width / width)
        width = max_width
    return max(2, width - width % 2), max(2, height - height % 2)


class PreviewMaker:
    """Makes previews one at a time on its own thread, so analysis never waits for an encoder.

    ``submit`` returns a future; the caller collects the result on its own thread (the recorder does,
    so stores and records are touched from one thread only).
    """

    def __init__(self, *, max_width: int = 640, max_s: float = 60.0) -> None:
        self.max_width = max_width
        self.max_s = max_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-preview")

    def submit(self, clip: Path, path: Path) -> Future[PreviewInfo]:
        return self._pool.submit(make_preview, clip, path, max_width=self.max_width, max_s=self.max_s)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
