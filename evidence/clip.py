"""Evidence clips: the camera's own encoded packets remuxed into a container, without re-encoding.

Decode is the dominant CPU cost of the service, and the evidence of record must be what the camera
sent, so a clip is never decoded and encoded again: the packets kept by the stream's ring buffer are
copied as they are into MP4 where the codec allows it (H.264, H.265 tagged ``hvc1``, MJPEG, MPEG-4
part 2), else into Matroska (MS-MPEG4 and the rest of what FFmpeg decodes). A browser that cannot play
the codec gets a separate H.264 preview (evidence/preview.py).
"""
from __future__ import annotations

import os
import statistics
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import av.video.stream

from common.hashing import sha256_file

CONTENT_TYPE = "video/mp4"


@dataclass(frozen=True, slots=True)
class ClipContainer:
    format: str  # FFmpeg muxer name
    suffix: str
    content_type: str
    options: tuple[tuple[str, str], ...] = ()


# moov first (+faststart) so a browser starts playing before the file is loaded
MP4 = ClipContainer("mp4", ".mp4", CONTENT_TYPE, (("movflags", "+faststart"),))
MATROSKA = ClipContainer("matroska", ".mkv", "video/x-matroska")
CONTAINERS = (MP4, MATROSKA)  # first that takes the codec wins
# FFmpeg tags remuxed HEVC 'hev1' (parameter sets in band); Safari plays only 'hvc1'
MP4_CODEC_TAGS = {"hevc": "hvc1"}


class EmptyClipError(ValueError):
    """No packet could go into the clip (none given, or none from a keyframe on)."""


class UnmuxableClipError(ValueError):
    """No clip container takes the codec; the message says what each muxer answered."""


@dataclass(frozen=True, slots=True)
class ClipInfo:
    path: Path
    duration_s: float  # presentation span of the written packets
    packets: int  # packets written
    first_is_keyframe: bool
    sha256: str
    size: int  # bytes
    # packets left out: no dts, empty, before the first keyframe, open-GOP leading B-frames,
    # dts not increasing
    skipped: int = 0
    codec: str = ""  # FFmpeg's codec name of the packets (h264, hevc, mjpeg, msmpeg4v3, ...)
    container: ClipContainer = MP4


def write_clip(
    packets: Sequence[av.Packet],
    template: av.video.stream.VideoStream,
    path: str | Path,
    containers: Sequence[ClipContainer] = CONTAINERS,
) -> ClipInfo:
    """Remux ``packets`` (demux order, from one video stream) into the first of ``containers`` whose
    muxer takes the codec, at ``path`` with that container's suffix (``ClipInfo.path``).

    Timestamps are shifted so the first packet's dts is 0 (pts keeps its lead over dts when the
    source has B-frames, so the first picture may show at e.g. 0.08 s). The file is written under a
    temporary name and renamed, so the path never holds a half-written clip. The input packets are
    left untouched (they may still sit in a ring buffer that other clips read). Raises
    ``UnmuxableClipError`` when no container takes the codec.
    """
    path = Path(path)
    chosen, skipped = _select(packets)
    if not chosen:
        raise EmptyClipError(
            f"no packets to write to {path}: {len(packets)} given, {skipped} skipped "
            "(no dts, empty, or no keyframe among them)"
        )
    time_base = chosen[0].time_base or template.time_base
    if time_base is None:
        raise ValueError("packets and template stream have no time base")
    codec = codec_name(template)
    refused: list[str] = []
    for container in containers:
        copies = [_copy(p, time_base) for p in chosen]  # muxing rescales them: fresh ones per attempt
        _shift_to_zero(copies)
        duration_s = _duration_s(copies, time_base, template)  # before muxing rescales the copies
        target = path.with_suffix(container.suffix)
        try:
            _mux(copies, template, target, container)
        except (ValueError, av.FFmpegError) as exc:  # the muxer refuses the codec (or its parameters)
            refused.append(f"{container.format}: {exc}")
            continue
        sha256, size = sha256_file(target)
        return ClipInfo(
            path=target,
            duration_s=duration_s,
            packets=len(copies),
            first_is_keyframe=bool(copies[0].is_keyframe),
            sha256=sha256,
            size=size,
            skipped=skipped,
            codec=codec,
            container=container,
        )
    raise UnmuxableClipError(f"no clip container takes codec {codec!r}: " + "; ".join(refused))


def codec_name(stream: av.video.stream.VideoStream) -> str:
    """FFmpeg's name of the stream's codec (h264, hevc, mjpeg, msmpeg4v3), whichever coder PyAV attached:
    a template detached into an output container carries an encoder (libx265 for hevc)."""
    return stream.codec_context.codec.canonical_name


def _mux(
    packets: list[av.Packet],
    template: av.video.stream.VideoStream,
    path: Path,
    container: ClipContainer,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        # format is explicit because the temporary name has no known extension
        with av.open(str(tmp), "w", format=container.format, options=dict(container.options)) as out:
            stream = out.add_stream_from_template(template)
            tag = MP4_CODEC_TAGS.get(codec_name(template)) if container.format == "mp4" else None
            if tag is not None:
                stream.codec_tag = tag
            for packet in packets:
                packet.stream = stream
                out.mux(packet)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _select(packets: Sequence[av.Packet]) -> tuple[list[av.Packet], int]:
    """Packets that can be muxed and decoded: from the first keyframe on, strictly increasing dts,
    without the open-GOP leading pictures that reference frames from before the clip."""
    chosen: list[av.Packet] = []
    last: av.Packet | None = None
    key: av.Packet | None = None
    for packet in packets:
        if packet.dts is None or packet.size == 0:
            continue
        if key is None:
            if not packet.is_keyframe:
                continue  # nothing before the first keyframe can be decoded
            key = packet
        elif (
            packet.pts is not None
            and key.pts is not None
            and _in(packet.pts, packet.time_base, key.time_base) < key.pts
        ):
            # shown before the keyframe yet decoded after it: a B-frame of an open GOP (MPEG-4
            # part 2, some H.264 cameras) that needs the previous GOP, which the clip lacks
            continue
        if last is not None and _in(packet.dts, packet.time_base, last.time_base) <= last.dts:
            # the MP4 muxer refuses a non-increasing dts (a glitch or a reconnect in the source);
            # losing one packet is better than losing the whole clip
            continue
        chosen.append(packet)
        last = packet
    return chosen, len(packets) - len(chosen)


def _in(ts: int, tb: Fraction | None, target: Fraction | None) -> int | float:
    """``ts`` in ``tb`` expressed in ``target`` (unchanged when either is unknown or both agree)."""
    if tb is None or target is None or tb == target:
        return ts
    return ts * tb / target


def _copy(packet: av.Packet, time_base: Fraction) -> av.Packet:
    """A new packet with the same payload, flags, side data and timestamps (in ``time_base``)."""
    copy = av.Packet(packet)  # shares the payload (refcounted), own timestamps and flags
    copy.time_base = packet.time_base or time_base
    copy.dts = packet.dts
    copy.pts = packet.pts if packet.pts is not None else packet.dts  # first RTSP packets may lack pts
    copy.duration = packet.duration
    copy.is_keyframe = packet.is_keyframe
    for side_data in packet.iter_sidedata():
        copy.set_sidedata(side_data)
    if copy.time_base != time_base:
        copy.rescale_ts(time_base)
    return copy


def _shift_to_zero(packets: list[av.Packet]) -> None:
    offset = packets[0].dts
    for packet in packets:
        packet.dts -= offset
        # a source with pts < dts is broken; the muxer would refuse it, so hold pts at dts
        packet.pts = max(packet.pts - offset, packet.dts)


def _duration_s(
    packets: list[av.Packet], time_base: Fraction, template: av.video.stream.VideoStream
) -> float:
    """From the earliest pts to the end of the last picture shown."""
    frame_ticks = _frame_ticks(packets, time_base, template)
    start = min(p.pts for p in packets)
    end = max(p.pts + (p.duration or frame_ticks) for p in packets)
    return float((end - start) * time_base)


def _frame_ticks(
    packets: list[av.Packet], time_base: Fraction, template: av.video.stream.VideoStream
) -> int:
    """Typical duration of one frame, for packets that do not carry theirs."""
    steps = [b.dts - a.dts for a, b in zip(packets, packets[1:]) if b.dts > a.dts]
    if steps:
        return int(statistics.median(steps))
    rate = template.average_rate or template.base_rate
    return int(round(1 / (rate * time_base))) if rate else 0
