"""What an uploaded file is, read from its container without decoding it: a video stream, its length and the
recording's creation time (MP4 ``creation_time``), the time source when no ``started_at`` is given."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


class NotVideo(ValueError):
    """The file is not a video PyAV can read, or has no video stream."""


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    codec: str
    width: int
    height: int
    creation_time: datetime | None  # from the container's metadata (UTC), when it has one


def probe(path: str | Path) -> VideoInfo:
    import av

    try:
        container = av.open(str(path), options={"analyzeduration": "1000000"})
    except (av.FFmpegError, OSError) as exc:
        raise NotVideo(f"not a video file ({type(exc).__name__}: {exc})") from None
    with container:
        if not container.streams.video:
            raise NotVideo("the file has no video stream")
        stream = container.streams.video[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        if not duration or duration <= 0:
            raise NotVideo("the video stream has no duration (not a complete recording)")
        tags = {**dict(container.metadata), **dict(stream.metadata)}
        return VideoInfo(duration, stream.codec_context.name, stream.codec_context.width or 0,
                         stream.codec_context.height or 0, _creation_time(tags.get("creation_time")))


def _creation_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.year < 1971:  # 1904/1970 epochs: a device that never set its clock
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
