"""A ring buffer of encoded video packets, for evidence clips remuxed without re-encoding."""
from __future__ import annotations

import io
import threading
from collections import deque
from dataclasses import dataclass

import av
from av.container import OutputContainer
from av.video.stream import VideoStream


@dataclass(slots=True)
class ClipPackets:
    """Packets of one clip in decode order, starting at a keyframe, and the stream to mux them with.

    ``packets`` are copies owned by the caller (muxing rescales and mutates packets in place; the
    ring's own packets stay untouched). ``template`` is a detached copy of the source stream's codec
    parameters and time base, valid after the reader has moved on or closed its container: pass it
    to ``OutputContainer.add_stream_from_template``. ``start_s``/``end_s`` are the media times the
    packets actually cover (the start is the keyframe's, at or before the requested start).
    """

    packets: list[av.Packet]
    template: VideoStream
    start_s: float
    end_s: float


@dataclass(slots=True)
class _Entry:
    packet: av.Packet
    time_s: float
    size: int
    is_keyframe: bool


# Muxers that may hold a template, in order: MP4 for what it takes, Matroska for nearly all the rest
# (MS-MPEG4 in AVI, which the MP4 muxer refuses). The holder's format only decides which codecs it accepts.
HOLDER_FORMATS = ("mp4", "matroska")


class NoTemplateError(ValueError):
    """No holder container takes the stream's codec: no clip can be muxed from it."""


def detach_template(
    stream: VideoStream, formats: tuple[str, ...] | None = None
) -> tuple[OutputContainer, VideoStream]:
    """Copy a stream's codec parameters into a stream of a never-written in-memory container.

    PyAV streams point into their container's C structures: using an input stream as a template
    after ``container.close()`` is a use-after-free (a segfault with PyAV 18). The copy lives as long
    as the returned holder container, independent of the reader's connection. Raises
    ``NoTemplateError`` when none of ``formats`` takes the codec.
    """
    refused: list[str] = []
    for fmt in HOLDER_FORMATS if formats is None else formats:
        holder = av.open(io.BytesIO(), "w", format=fmt)
        try:
            return holder, holder.add_stream_from_template(stream)
        except ValueError as exc:  # "'mp4' format does not support 'msmpeg4' codec"
            holder.close()
            refused.append(str(exc))
    raise NoTemplateError("; ".join(refused) or "no holder format given")


def copy_packet(packet: av.Packet) -> av.Packet:
    """A new packet sharing the payload (no byte copy) with its own timestamps and flags."""
    clone = av.Packet(packet)  # references packet's buffer through the buffer protocol
    clone.pts = packet.pts
    clone.dts = packet.dts
    clone.time_base = packet.time_base
    clone.duration = packet.duration
    clone.is_keyframe = packet.is_keyframe
    return clone


class PacketRing:
    """The last ``max_seconds`` of ENCODED packets of one source, always starting at a keyframe.

    Eviction drops whole GOPs from the front: the ring keeps at least ``max_seconds`` (once that much
    has arrived) and at most ``max_seconds`` plus one GOP, and never more than ``max_bytes``; if a
    single GOP exceeds ``max_bytes`` the ring empties and refills from the next keyframe. Thread safe:
    the reader appends while evidence takes windows from another thread.
    """

    def __init__(self, max_seconds: float, max_bytes: int) -> None:
        if max_seconds <= 0 or max_bytes <= 0:
            raise ValueError("max_seconds and max_bytes must be positive")
        self.max_seconds = float(max_seconds)
        self.max_bytes = int(max_bytes)
        self._entries: deque[_Entry] = deque()
        self._key_times: deque[float] = deque()  # times of the keyframes held: eviction without scanning
        self._bytes = 0
        self._latest: float | None = None
        self._holder: OutputContainer | None = None
        self._template: VideoStream | None = None
        self.template_error: str | None = None  # why this connection's packets cannot make clips
        self._lock = threading.Lock()

    # --- writer side (the reader) ---------------------------------------------------------------

    def set_stream(self, stream: VideoStream) -> None:
        """Start a new connection: remember its codec parameters and clear the ring.

        A clip never mixes two connections (codec parameters and timestamps may differ). A codec that
        no clip container takes never stops the source: the ring then keeps nothing and
        ``template_error`` says why (analysis goes on without clips).
        """
        try:
            holder, template = detach_template(stream)
            error = None
        except NoTemplateError as exc:
            holder, template, error = None, None, f"codec {stream.codec_context.codec.canonical_name!r}: {exc}"
        with self._lock:
            self._clear_locked()
            self._holder, self._template, self.template_error = holder, template, error

    def append(self, packet: av.Packet, time_s: float) -> bool:
        """Add one demuxed packet with its media time; returns whether it was kept.

        Skipped: packets without dts or payload (not muxable), and anything before the first
        keyframe (the ring must start decodable).
        """
        if packet.dts is None or packet.size == 0:
            return False
        is_key = bool(packet.is_keyframe)
        with self._lock:
            if self.template_error is not None or (not self._entries and not is_key):
                return False  # no clip could use it, or nothing before the first keyframe decodes
            entry = _Entry(packet, float(time_s), packet.size, is_key)
            self._entries.append(entry)
            if is_key:
                self._key_times.append(entry.time_s)
            self._bytes += entry.size
            if self._latest is None or entry.time_s > self._latest:
                self._latest = entry.time_s
            self._evict_locked()
            return bool(self._entries) and self._entries[-1] is entry

    def clear(self) -> None:
        with self._lock:
            self._clear_locked()

    # --- reader side (evidence) -----------------------------------------------------------------

    @property
    def latest_time_s(self) -> float | None:
        """Media time of the newest packet held, or None when empty."""
        with self._lock:
            return self._latest if self._entries else None

    @property
    def earliest_time_s(self) -> float | None:
        with self._lock:
            return self._entries[0].time_s if self._entries else None

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def window(self, start_s: float, end_s: float) -> ClipPackets | None:
        """Packets from the last keyframe at or before ``start_s`` up to ``end_s``, or None.

        If ``start_s`` precedes the ring, the clip starts at the ring's first keyframe (shorter
        pre-roll). None when the ring is empty or holds nothing in ``[start_s, end_s]``.
        """
        if end_s < start_s:
            raise ValueError("end_s must not precede start_s")
        with self._lock:
            entries = list(self._entries)
            template = self._template
        if not entries or template is None:
            return None
        first = 0
        for i, e in enumerate(entries):
            if e.time_s > start_s:
                break
            if e.is_keyframe:
                first = i
        # Last packet (decode order) whose time is within the window; B-frames before it are kept.
        last = max((i for i in range(first, len(entries)) if entries[i].time_s <= end_s), default=-1)
        if last < first:
            return None
        chosen = entries[first : last + 1]
        if max(e.time_s for e in chosen) < start_s:
            return None  # the ring ends before the window starts
        return ClipPackets(
            packets=[copy_packet(e.packet) for e in chosen],
            template=template,
            start_s=chosen[0].time_s,
            end_s=max(e.time_s for e in chosen),
        )

    # --- internals ------------------------------------------------------------------------------

    def _clear_locked(self) -> None:
        self._entries.clear()
        self._key_times.clear()
        self._bytes = 0
        self._latest = None

    def _drop_first_gop_locked(self) -> None:
        self._bytes -= self._entries.popleft().size
        self._key_times.popleft()
        while self._entries and not self._entries[0].is_keyframe:
            self._bytes -= self._entries.popleft().size

    def _next_keyframe_time_locked(self) -> float | None:
        return self._key_times[1] if len(self._key_times) > 1 else None

    def _evict_locked(self) -> None:
        # Bytes: a hard cap, drop GOPs until under it (possibly everything).
        while self._entries and self._bytes > self.max_bytes:
            self._drop_first_gop_locked()
        # Seconds: drop the first GOP only while the rest still covers max_seconds.
        while self._entries and self._latest is not None:
            nxt = self._next_keyframe_time_locked()
            if nxt is None or self._latest - nxt < self.max_seconds:
                break
            self._drop_first_gop_locked()
        if not self._entries:
            self._latest = None
