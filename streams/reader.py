"""SourceReader: one video source (RTSP or file) -> packets into a ring, decoded frames at analysis rate."""
from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from typing import Literal

import av
import cv2
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from common.backoff import Backoff
from streams.frames import Frame
from streams.health import SourceHealth, SourceState
from streams.hwdecode import HardwareDecoding
from streams.packets import PacketRing
from streams.urls import is_network_url, mask_url

log = logging.getLogger(__name__)
_ERRNO_PREFIX = re.compile(r"^\[Errno -?\d+\] ")

DecodeMode = Literal["all", "keyframes"]

# Short probing: first frame over RTSP in ~0.2 s instead of ~1.1 s (FIELD-NOTES).
RTSP_OPTIONS = {"rtsp_transport": "tcp", "analyzeduration": "100000"}
MAX_READ_BATCH_S = 0.5  # well under the 1 s after which a quiet source counts as stalled (SourceHealth)
# Read batching sleeps only after a packet that waited less than this on our side (see LiveEdge): the
# next one has most likely not arrived yet. Above a frame interval (40 ms at 25 fps), so the newest
# buffered packet qualifies; well below read_batch_s, so each sleep starts with the buffers drained.
CAUGHT_UP_S = 0.05
# decode="keyframes" on a stream whose keyframes lie further apart than this (OpenCV's vtest.avi: 25 s,
# "smart" H.265 cameras: 10 s and more) would starve analysis: such a connection decodes like "all".
MAX_KEYFRAME_GAP_S = 5.0
MAX_GOP_REPLAY_PACKETS = 2000  # packets kept since the last keyframe, to decode that GOP after all


class _StreamEnded(Exception):
    """A network stream reached end of stream: reconnect like any other failure."""


class UnreadableMediaError(Exception):
    """A file ended without giving what it promised: no decodable frame, or fewer frames than declared."""


class MediaClock:
    """Maps a connection's timestamps to source media time: seconds since the start of the source.

    Within a connection: ``offset + (ts - base)`` (never below ``offset``). A new connection continues
    from the last media time plus the wall-clock gap, so time stays monotonic across reconnects.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.base: float | None = None
        self.last_media: float | None = None
        self.last_wall: float | None = None

    def new_connection(self, base_s: float | None, now_wall: float) -> None:
        if self.last_media is not None and self.last_wall is not None:
            self.offset = self.last_media + max(0.0, now_wall - self.last_wall)
        self.base = base_s

    def media(self, ts_s: float, now_wall: float) -> float:
        if self.base is None:
            self.base = ts_s
        t = self.offset + max(0.0, ts_s - self.base)
        # Frames come out of the decoder later than their packets: never re-base on a step back.
        if self.last_media is None or t > self.last_media:
            self.last_media, self.last_wall = t, now_wall
        return t


class RateSampler:
    """Picks frames on a fixed media-time grid of ``1/fps`` (no drift, no bursts after gaps)."""

    def __init__(self, fps: float | None) -> None:
        self.period = 1.0 / fps if fps else 0.0
        self._next: float | None = None
        self._last: float | None = None

    def due(self, t: float) -> bool:
        """Whether a frame at media time ``t`` would be taken (without taking it)."""
        if self._last is not None and t <= self._last:
            return False  # keep yielded media time strictly increasing
        return self._next is None or t >= self._next - 1e-6

    @property
    def next_due(self) -> float | None:
        """Media time from which the next frame is taken (None before the first)."""
        return self._next

    def take(self, t: float) -> bool:
        if not self.due(t):
            return False
        nxt = (self._next if self._next is not None else t) + self.period
        self._next = nxt if nxt > t else t + self.period
        self._last = t
        return True


class GopTracker:
    """Keyframe times of a connection: when the next keyframe is expected (for skipping a GOP's tail).

    The estimate uses the LONGEST of the last few keyframe intervals, so a stream whose GOP varies
    skips less, never a frame that analysis wanted (unless a GOP is longer than any seen recently).
    """

    def __init__(self, history: int = 4) -> None:
        self._intervals: deque[float] = deque(maxlen=history)
        self.last_key_s: float | None = None

    def keyframe(self, t: float) -> None:
        if self.last_key_s is not None and t > self.last_key_s:
            self._intervals.append(t - self.last_key_s)
        self.last_key_s = t

    def next_key_s(self) -> float | None:
        if self.last_key_s is None or not self._intervals:
            return None
        return self.last_key_s + max(self._intervals)


class LiveEdge:
    """How far behind the live edge of a network source its reader is, for batching reads.

    A packet's delay is ``wall clock - media time`` when it is read. The smallest recent delay is that of
    a packet read the moment it arrived (network and encoder latency, a constant), so ``delay - smallest``
    is how long a packet waited in buffers on our side: the backlog. The smallest delay is kept over two
    windows of ``window_s``, so a camera clock slower than ours (delays creeping up) cannot make the
    reader look behind forever (it would only stop batching, never fall behind).
    """

    def __init__(self, window_s: float = 30.0) -> None:
        self.window_s = window_s
        self._window_start: float | None = None
        self._previous_min = float("inf")
        self._current_min = float("inf")

    def backlog(self, delay_s: float, now: float) -> float:
        if self._window_start is None or now - self._window_start >= self.window_s:
            self._previous_min, self._current_min = self._current_min, float("inf")
            self._window_start = now
        self._current_min = min(self._current_min, delay_s)
        return delay_s - min(self._previous_min, self._current_min)


class SourceReader:
    """Reads one source: every video packet goes to ``ring``; frames are decoded only as needed.

    ``frames()`` is a blocking generator of BGR frames at ``analysis_fps`` (by media time; None = every
    decoded frame). ``decode="keyframes"`` decodes keyframes only (the cheap mode), and only those the
    rate wants. ``decode="all"`` decodes every frame up to each frame the rate wants, and skips the rest of
    a GOP when the next wanted frame lies beyond the next keyframe (at 2 fps on a 1 s GOP: half the
    decoding). ``decode_threads`` is FFmpeg's decoder threads per source: 1 is the cheapest in CPU per
    frame and keeps 350 sources from spawning a thread pool each.
    ``read_batch_s`` (network sources; 0 = off): once the reader has caught up with the live edge it
    sleeps this long, so the socket gathers that much video and the next reads find it already there.
    A reader blocked on its socket wakes up once per frame (25 a second), and each wake-up costs CPU in
    the kernel and FFmpeg (scheduling, poll, TCP acks): measured here, batching at 0.25 s cuts a 720p
    RTSP stream's reading cost by 0.05-0.15 s of CPU per stream-minute (8-32 streams), for frames
    that reach analysis up to ``read_batch_s`` later. It never sleeps while packets are backlogged
    (``LiveEdge``), so a reader that falls behind reads flat out as before.
    Files end the generator at end of file; network sources retry forever with backoff and only end
    on ``stop()`` (which takes effect within ``read_timeout_s`` when blocked on a silent server).
    One reader serves one ``frames()`` iteration; its ``health`` is safe to read from other threads.
    """

    def __init__(
        self,
        source_id: str,
        url: str,
        *,
        analysis_fps: float | None = 2.0,
        decode: DecodeMode = "all",
        realtime: bool = False,
        ring: PacketRing | None = None,
        open_timeout_s: float = 5,
        read_timeout_s: float = 5,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10,
        options: dict[str, str] | None = None,
        decode_threads: int = 1,
        read_batch_s: float = 0.0,
        hwdecode: HardwareDecoding | None = None,
    ) -> None:
        if decode not in ("all", "keyframes"):
            raise ValueError(f"decode must be 'all' or 'keyframes', not {decode!r}")
        self.source_id = source_id
        self.url = url
        self.masked_url = mask_url(url)
        self.analysis_fps = analysis_fps
        self.decode = decode
        self.realtime = realtime
        self.ring = ring
        self.open_timeout_s = open_timeout_s
        self.read_timeout_s = read_timeout_s
        self.is_network = is_network_url(url)
        if options is None:
            options = dict(RTSP_OPTIONS) if url.lower().startswith("rtsp") else {}
        self.options = options
        self.decode_threads = max(0, int(decode_threads))  # 0 = FFmpeg's choice (a thread pool per source)
        if not 0 <= read_batch_s <= MAX_READ_BATCH_S:
            raise ValueError(f"read_batch_s must be in [0, {MAX_READ_BATCH_S}], not {read_batch_s}")
        self.read_batch_s = float(read_batch_s) if self.is_network else 0.0  # files: nothing to batch
        self.hwdecode = hwdecode
        self._decoder_seen = False  # health.decoder recorded for this connection
        self.health = SourceHealth(source_id, stall_after_s=max(read_timeout_s / 2, 1.0))
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)
        self._stop = threading.Event()
        self._clock = MediaClock()
        self._sampler = RateSampler(analysis_fps)
        self._gop = GopTracker()
        self._skip_to_keyframe = False  # "all" mode: the rest of this GOP holds no wanted frame
        self._decoded = 0
        self._long_gop = False  # "keyframes" mode fell back to decoding every frame (see MAX_KEYFRAME_GAP_S)
        self._since_key: list[av.Packet] | None = None  # "keyframes" mode: this GOP's packets, for the fallback

    def stop(self) -> None:
        """Ask ``frames()`` to end; safe from any thread."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def frames(self) -> Iterator[Frame]:
        first_connection = True
        try:
            while not self._stop.is_set():
                self.health.connecting()
                try:
                    container = self._open()
                except Exception as exc:  # noqa: BLE001 - any open failure is a source problem
                    if not self._failed(exc, "open"):
                        return
                    continue
                try:
                    self.health.connected(first=first_connection)
                    first_connection = False
                    yield from self._read(container)
                    if not self._stop.is_set():  # a file ended
                        self.health.set_state(SourceState.ENDED)
                        log.info("source %s: end of file %s", self.source_id, self.masked_url)
                    return
                except Exception as exc:  # noqa: BLE001 - stream errors (and _StreamEnded) never escape
                    if not self._failed(exc, "read"):
                        return
                finally:
                    container.close()
        finally:
            # Stopped by stop() or by the consumer closing the generator; ended/failed files keep that.
            if self._stop.is_set() or self.health.state not in (SourceState.ENDED, SourceState.FAILED):
                self.health.set_state(SourceState.STOPPED)

    # --- internals ------------------------------------------------------------------------------

    def _open(self) -> InputContainer:
        hwaccel = self.hwdecode.hwaccel() if self.hwdecode is not None else None
        try:
            return av.open(
                self.url,
                options=self.options,
                timeout=(self.open_timeout_s, self.read_timeout_s),
                **({"hwaccel": hwaccel} if hwaccel is not None else {}),
            )
        except Exception:
            if hwaccel is not None and self.hwdecode is not None:
                self.hwdecode.recheck()  # the device may be what failed: probe it before the next attempt
            raise

    def _failed(self, exc: BaseException, what: str) -> bool:
        """Record a failure; return True to retry (network), False to end (file)."""
        # FFmpeg errors read "[Errno -1094995529] Invalid data found ...": the number says nothing to anyone
        message = f"{what} failed: {type(exc).__name__}: {_ERRNO_PREFIX.sub('', str(exc))}"
        if not self.is_network:
            self.health.error(message, url=self.url)
            log.error("source %s (%s): %s", self.source_id, self.masked_url, self.health.last_error)
            return False
        delay = self._backoff.next_delay()
        self.health.error(message, url=self.url, retry_in_s=delay)
        # Warn on the first failure of a streak; a camera down for hours should not flood the log
        # (health carries every attempt).
        level = logging.WARNING if self._backoff.attempt == 1 else logging.DEBUG
        log.log(
            level,
            "source %s (%s): %s; retrying in %.1f s (attempt %d)",
            self.source_id, self.masked_url, self.health.last_error, delay, self._backoff.attempt,
        )
        return not self._stop.wait(delay)

    def _read(self, container: InputContainer) -> Iterator[Frame]:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream: VideoStream = container.streams.video[0]
        stream.codec_context.thread_count = self.decode_threads
        self._decoder_seen = False
        if self.decode == "keyframes":
            stream.codec_context.skip_frame = "NONKEY"  # belt and braces: only keyframes are fed
        self._gop = GopTracker()  # keyframe spacing is per connection
        self._skip_to_keyframe = False
        self._long_gop = False
        self._since_key = None
        decoded_before = self._decoded
        demuxed = 0  # packets with a timestamp, to compare with what the file declares
        if self.ring is not None:
            self.ring.set_stream(stream)
        tb: Fraction = stream.time_base or Fraction(1, 90000)
        tb_s = float(tb)  # per packet: a float product, not Fraction arithmetic
        start = container.start_time  # AV_TIME_BASE (microseconds), None when unknown
        self._clock.new_connection(None if start is None else start / 1e6, time.time())
        pace = _Pacer() if self.realtime else None
        edge = LiveEdge() if self.read_batch_s > 0 else None
        got_packet = False

        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            now = time.time()
            ts = packet.pts if packet.pts is not None else packet.dts
            packet_time = self._clock.media(ts * tb_s, now) if ts is not None else None
            demuxed += ts is not None
            if packet.size:
                self.health.on_packet(now)
                if not got_packet:
                    got_packet = True
                    self._backoff.reset()  # the connection works: next failure starts from the bottom
                if self.ring is not None and packet_time is not None:
                    self.ring.append(packet, packet_time)
                if pace is not None and packet_time is not None and not pace.wait(packet_time, self._stop):
                    return
            for vframe in self._decode(stream, packet, packet_time):
                if not self._decoder_seen:  # known once a frame came out: hardware may fall back per stream
                    self._decoder_seen = True
                    self.health.set_decoder(self._decoder_label(stream))
                frame = self._to_frame(vframe, tb)
                if frame is not None:
                    yield frame
                    self._maybe_skip_gop_tail(stream)
            if (
                edge is not None
                and packet_time is not None
                and packet.size
                and edge.backlog(now - packet_time, now) < CAUGHT_UP_S
                and self._stop.wait(self.read_batch_s)
            ):
                return
        if self.is_network and not self._stop.is_set():
            raise _StreamEnded("end of stream")
        if not self._stop.is_set():
            self._check_complete(stream, demuxed, self._decoded - decoded_before)

    def _check_complete(self, stream: VideoStream, demuxed: int, decoded: int) -> None:
        """At the end of a file: fail it when it gave no frame, or stopped short of the frame count its
        header declares (a truncated file FFmpeg reads to the cut without an error)."""
        codec = stream.codec_context.name
        if decoded == 0:
            raise UnreadableMediaError(f"no video frame could be decoded ({demuxed} packets of {codec} read)")
        declared = stream.frames or 0
        if declared and demuxed < declared * 0.99 - 1:
            end = self._clock.last_media or 0.0
            raise UnreadableMediaError(
                f"the file ends after {demuxed} of the {declared} frames its header declares, at {end:.1f} s "
                "(truncated?)")

    def _decode(self, stream: VideoStream, packet: av.Packet, packet_time: float | None) -> list[av.VideoFrame]:
        is_key = bool(packet.is_keyframe) and bool(packet.size)
        if is_key and packet_time is not None:
            self._gop.keyframe(packet_time)
        try:
            if self.decode == "all":
                return self._decode_all(stream, packet, is_key)
            if self._long_gop:
                return self._decode_all(stream, packet, is_key)
            if is_key:
                self._since_key = [packet]
            elif self._since_key is not None:
                self._since_key.append(packet)
                if len(self._since_key) > MAX_GOP_REPLAY_PACKETS:
                    self._since_key = None
            if not is_key:
                if self._keyframes_too_far(packet_time):
                    return self._fall_back_to_all(stream)
                return []
            if packet_time is not None and not self._sampler.due(packet_time):
                return []  # a keyframe the analysis rate does not want: not worth decoding
            return decode_keyframe(stream, packet)
        except av.FFmpegError as exc:  # a corrupt packet: skip it, keep the connection
            log.debug("source %s: decode error %s", self.source_id, exc)
            return []

    def _decode_all(self, stream: VideoStream, packet: av.Packet, is_key: bool) -> list[av.VideoFrame]:
        if self._skip_to_keyframe:
            if not is_key:
                return []
            self._skip_to_keyframe = False
        return stream.decode(packet)  # the final empty packet at EOF drains the decoder

    def _keyframes_too_far(self, packet_time: float | None) -> bool:
        """Analysis wants a frame, and the last keyframe lies more than MAX_KEYFRAME_GAP_S back (and more
        than one analysis period: at one frame in 10 s, keyframes 8 s apart serve well)."""
        last_key = self._gop.last_key_s
        return (
            packet_time is not None
            and last_key is not None
            and packet_time - last_key > max(MAX_KEYFRAME_GAP_S, self._sampler.period)
            and self._sampler.due(packet_time)
        )

    def _fall_back_to_all(self, stream: VideoStream) -> list[av.VideoFrame]:
        """Decode every frame from now on (this connection); decode this GOP from its keyframe so the
        frames analysis wanted since then are not lost."""
        log.info("source %s: keyframes more than %.0f s apart; decoding every frame at %s fps",
                 self.source_id, MAX_KEYFRAME_GAP_S, self.analysis_fps)
        self._long_gop = True
        stream.codec_context.skip_frame = "DEFAULT"
        stream.codec_context.flush_buffers()
        replay, self._since_key = self._since_key or [], None
        frames: list[av.VideoFrame] = []
        for packet in replay:
            frames += stream.decode(packet)
        return frames

    def _decoder_label(self, stream: VideoStream) -> str:
        if self.hwdecode is not None and stream.codec_context.is_hwaccel:
            return self.hwdecode.label
        return "cpu"

    def _maybe_skip_gop_tail(self, stream: VideoStream) -> None:
        """After a wanted frame: if the next wanted one is at or after the next keyframe, stop decoding
        until that keyframe (the frames in between are never wanted and nothing later references them)."""
        if (self.decode != "all" and not self._long_gop) or self._sampler.period <= 0:
            return
        due, next_key = self._sampler.next_due, self._gop.next_key_s()
        if due is not None and next_key is not None and due >= next_key - 1e-3:
            self._skip_to_keyframe = True
            stream.codec_context.flush_buffers()  # frames held for reordering are not wanted either

    def _to_frame(self, vframe: av.VideoFrame, tb: Fraction) -> Frame | None:
        self._decoded += 1
        self.health.on_decoded()
        if vframe.pts is None:
            return None  # first frames over RTSP may carry no timestamp: skip, never guess
        now = time.time()
        t = self._clock.media(float(vframe.pts * (vframe.time_base or tb)), now)
        if not self._sampler.take(t):
            return None
        image = to_bgr(vframe)
        self.health.on_analysed(t, now)
        return Frame(
            source_id=self.source_id,
            image=image,
            time_s=t,
            index=self._decoded - 1,
            is_keyframe=vframe.key_frame,
            wall_time=now,
        )


def decode_keyframe(stream: VideoStream, packet: av.Packet) -> list[av.VideoFrame]:
    """Decode one keyframe on its own: feed it alone, drain, reset. With B-frames a decoder that is fed
    every packet holds keyframes back for seconds (its reorder delay counts in GOPs)."""
    frames = stream.decode(packet) + stream.decode(None)
    stream.codec_context.flush_buffers()
    return frames


def to_bgr(vframe: av.VideoFrame) -> np.ndarray:
    """BGR pixels of a decoded frame without per-source thread pools.

    FFmpeg's swscale (``to_ndarray(format="bgr24")``) starts its own worker threads for every source (two
    per source on two cores: 700 threads for 350 cameras); the common camera format, yuv420p, goes
    through OpenCV's shared pool instead (also about twice as fast), anything else through a
    single-threaded swscale.
    """
    if vframe.width % 2 == 0 and vframe.height % 2 == 0:
        if vframe.format.name == "yuv420p":
            return cv2.cvtColor(vframe.to_ndarray(), cv2.COLOR_YUV2BGR_I420)
        if vframe.format.name == "nv12":  # what hardware decoders hand back
            return cv2.cvtColor(vframe.to_ndarray(), cv2.COLOR_YUV2BGR_NV12)
    return vframe.reformat(format="bgr24", threads=1).to_ndarray()


class _Pacer:
    """Sleeps so that media time advances no faster than the wall clock (simulated live camera)."""

    def __init__(self) -> None:
        self._origin: tuple[float, float] | None = None  # (media_s, monotonic_s)

    def wait(self, media_s: float, stop: threading.Event) -> bool:
        now = time.monotonic()
        if self._origin is None:
            self._origin = (media_s, now)
            return True
        delay = (media_s - self._origin[0]) - (now - self._origin[1])
        return not (delay > 0 and stop.wait(delay))
