"""A position stream embedded in the recording itself: NMEA 0183 sentences ($GPRMC / $GPGGA, as the GPS
module writes them) carried in a timed-text track of the file. Devices that do this write a ``mov_text``
subtitle track in MP4/MOV, or an SRT/ASS one in Matroska; each sample holds the sentences of one fix. The
sentences carry their own UTC date and time, so the track is independent of ``started_at``.

Only the subtitle/data packets are read (demuxed, never decoded as video). A sentence that does not parse
(bad checksum, cut short) is skipped; a file with no usable sentence has no embedded track.
"""
from __future__ import annotations

import logging
from pathlib import Path

from streetsight.footage.tracks import TrackError, TrackPoint, parse_track

log = logging.getLogger(__name__)

_TEXT_CODECS = {"mov_text", "subrip", "srt", "text", "ass", "ssa", "webvtt"}


def embedded_track(path: str | Path) -> list[TrackPoint] | None:
    """The points of the first timed-text (or data) track holding NMEA sentences, or None."""
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        log.warning("footage %s: cannot look for an embedded track: %s", path, exc)
        return None
    with container:
        candidates = [s for s in container.streams
                      if s.type == "data" or (s.type == "subtitle" and s.codec_context is not None
                                              and s.codec_context.name in _TEXT_CODECS)]
        for stream in candidates:
            sentences = _sentences(container, stream)
            if not sentences:
                continue
            try:
                points = parse_track("\n".join(sentences).encode(), "nmea")
            except TrackError as exc:  # sentences, but no fix among them
                log.info("footage %s: stream %d holds NMEA with no usable fix (%s)", path, stream.index, exc)
                continue
            log.info("footage %s: %d positions from the embedded NMEA stream %d", path, len(points), stream.index)
            return points
    return None


def _sentences(container, stream) -> list[str]:
    import pynmea2

    out: list[str] = []
    container.seek(0)
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        data = bytes(packet)
        if stream.codec_context is not None and stream.codec_context.name == "mov_text" and len(data) >= 2:
            data = data[2:2 + int.from_bytes(data[:2], "big")]  # 16-bit length, then the text (3GPP TS 26.245)
        for line in data.decode("utf-8", "replace").replace("\\N", "\n").splitlines():
            start = line.find("$")
            if start < 0:
                continue
            sentence = line[start:].strip()
            try:
                pynmea2.parse(sentence, check=True)
            except (pynmea2.ParseError, ValueError, AttributeError):
                continue
            out.append(sentence)
    return out
