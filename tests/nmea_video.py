"""MP4s with an embedded position stream, as GPS-equipped recorders write them: the camera's H.264 packets and a
``mov_text`` timed-text track whose samples are the NMEA 0183 sentences ($GPRMC + $GPGGA) of each fix, muxed
with PyAV (no re-encoding of the video)."""
from __future__ import annotations

import struct
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import av
import pynmea2

# mov_text needs an ASS header to open its encoder context; nothing of it ends up in the samples
_ASS_HEADER = (b"[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize\n"
               b"Style: Default,Arial,16\n\n[Events]\nFormat: Layer, Start, End, Style, Text\n")
_MS = Fraction(1, 1000)


def _dm(value: float, pos: str, neg: str, deg_digits: int) -> tuple[str, str]:
    a = abs(value)
    d = int(a)
    return f"{d:0{deg_digits}d}{(a - d) * 60:07.4f}", pos if value >= 0 else neg


def fix_sentences(when: datetime, lng: float, lat: float) -> list[str]:
    """$GPRMC and $GPGGA of one fix, with their checksums."""
    lat_s, ns = _dm(lat, "N", "S", 2)
    lng_s, ew = _dm(lng, "E", "W", 3)
    hms = when.strftime("%H%M%S.%f")[:9]
    rmc = pynmea2.RMC("GP", "RMC", (hms, "A", lat_s, ns, lng_s, ew, "0.5", "45.0", when.strftime("%d%m%y"), "", ""))
    gga = pynmea2.GGA("GP", "GGA", (hms, lat_s, ns, lng_s, ew, "1", "08", "0.9", "12.0", "M", "0.0", "M", "", ""))
    return [str(rmc), str(gga)]


def with_nmea_track(video: Path, out_path: Path, fixes: list[tuple[float, datetime, float, float]],
                    garbage_at: float | None = None) -> Path:
    """``video`` remuxed into ``out_path`` with one timed-text sample per fix ``(media s, when, lng, lat)``;
    ``garbage_at``: a sample there holds a sentence with a wrong checksum (a corrupted write)."""
    samples = [(m, "\r\n".join(fix_sentences(w, lng, lat))) for m, w, lng, lat in fixes]
    if garbage_at is not None:
        samples.append((garbage_at, "$GPRMC,010203.00,A,3000.0000,N,12000.0000,E,0.5,45.0,301126,,*5A"))
    samples.sort()
    with av.open(str(video)) as src, av.open(str(out_path), "w", format="mp4") as out:
        v_in = src.streams.video[0]
        v_out = out.add_stream_from_template(v_in)
        text = out.add_stream("mov_text")
        text.codec_context.subtitle_header = _ASS_HEADER
        text.time_base = _MS
        text.metadata["handler_name"] = "GPS NMEA"
        pending = list(samples)
        for packet in src.demux(v_in):
            if packet.dts is None or packet.size == 0:
                continue
            now = float(packet.pts * packet.time_base)
            while pending and pending[0][0] <= now:
                _mux_text(out, text, *pending.pop(0))
            packet.stream = v_out
            out.mux(packet)
        for sample in pending:
            _mux_text(out, text, *sample)
    return out_path


def _mux_text(out, stream, media_s: float, body: str) -> None:
    data = body.encode()
    packet = av.Packet(struct.pack(">H", len(data)) + data)
    packet.stream, packet.time_base = stream, _MS
    packet.pts = packet.dts = int(round(media_s * 1000))
    packet.duration = 1000
    out.mux(packet)
