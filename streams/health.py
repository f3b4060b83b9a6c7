"""Health of one source: a small state machine plus rates, written by its reader, read by anyone."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from streams.urls import mask_text, mask_url


class SourceState(str, Enum):
    CONNECTING = "connecting"  # opening the source
    STREAMING = "streaming"  # packets arriving
    STALLED = "stalled"  # connected, but no packet for stall_after_s (derived when read, never stored)
    BACKING_OFF = "backing_off"  # an open/read failed; waiting before the next attempt
    FAILED = "failed"  # a file that cannot be opened or read: no retry
    STOPPED = "stopped"  # stop() was called
    ENDED = "ended"  # end of a file


_S = SourceState
# Stored transitions; anything may go to STOPPED, which is final.
_NEXT: dict[SourceState, set[SourceState]] = {
    _S.CONNECTING: {_S.STREAMING, _S.BACKING_OFF, _S.FAILED, _S.ENDED},
    _S.STREAMING: {_S.BACKING_OFF, _S.FAILED, _S.ENDED},
    _S.BACKING_OFF: {_S.CONNECTING},
    _S.FAILED: set(),
    _S.ENDED: set(),
    _S.STOPPED: set(),
}


class _Rate:
    """Events per second over a sliding window of wall time."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def untick(self) -> None:
        """Forget the newest event (it did not count after all)."""
        if self._times:
            self._times.pop()

    def value(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


@dataclass
class SourceHealth:
    """What an operator needs to know about one source; ``as_dict()`` is safe for APIs and logs."""

    source_id: str
    stall_after_s: float = 5.0
    reconnects: int = 0  # successful opens after the first
    connect_attempts: int = 0
    last_error: str | None = None  # credentials masked
    last_error_wall: float | None = None
    last_frame_media_s: float | None = None  # media time of the last analysed frame
    last_frame_wall: float | None = None  # unix time of the last analysed frame
    last_packet_wall: float | None = None
    next_retry_wall: float | None = None
    packets: int = 0
    decoded_frames: int = 0
    analysed_frames: int = 0  # handed to analysis, less those dropped by back-pressure
    dropped_frames: int = 0  # dropped (oldest first) because analysis fell behind
    decoder: str = "cpu"  # what decodes analysed frames: cpu, or the hardware device in use
    state_since_wall: float = field(default_factory=time.time)
    _state: SourceState = field(default=SourceState.CONNECTING, init=False, repr=False)
    _input: _Rate = field(default_factory=_Rate, init=False, repr=False)
    _analysed: _Rate = field(default_factory=_Rate, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # --- transitions ------------------------------------------------------------------------

    @property
    def state(self) -> SourceState:
        with self._lock:
            return self._state_locked(time.time())

    def _state_locked(self, now: float) -> SourceState:
        if self._state == _S.STREAMING:
            # Quiet since the last packet of this connection (or since it opened).
            since = max(self.last_packet_wall or 0.0, self.state_since_wall)
            if now - since > self.stall_after_s:
                return _S.STALLED
        return self._state

    def set_state(self, state: SourceState) -> None:
        with self._lock:
            if state == self._state or self._state == _S.STOPPED:
                return
            if state != _S.STOPPED and state not in _NEXT[self._state]:
                raise ValueError(f"bad source state transition {self._state.value} -> {state.value}")
            self._state = state
            self.state_since_wall = time.time()

    def connecting(self) -> None:
        with self._lock:
            self.connect_attempts += 1
        self.set_state(SourceState.CONNECTING)

    def connected(self, first: bool) -> None:
        if not first:
            with self._lock:
                self.reconnects += 1
        self.set_state(SourceState.STREAMING)

    def error(self, message: str, *, url: str | None = None, retry_in_s: float | None = None) -> None:
        """Record a failure (credentials masked); with ``retry_in_s`` the source backs off."""
        if url:
            message = message.replace(url, mask_url(url))
        message = mask_text(message)
        with self._lock:
            self.last_error = message
            self.last_error_wall = time.time()
            self.next_retry_wall = None if retry_in_s is None else self.last_error_wall + retry_in_s
        self.set_state(SourceState.BACKING_OFF if retry_in_s is not None else SourceState.FAILED)

    # --- counters ---------------------------------------------------------------------------

    def on_packet(self, now: float) -> None:
        with self._lock:
            self.packets += 1
            self.last_packet_wall = now
            self._input.tick(now)

    def on_decoded(self) -> None:
        with self._lock:
            self.decoded_frames += 1

    def on_analysed(self, media_s: float, now: float) -> None:
        with self._lock:
            self.analysed_frames += 1
            self.last_frame_media_s = media_s
            self.last_frame_wall = now
            self._analysed.tick(now)

    def set_decoder(self, decoder: str) -> None:
        """What decodes this source's analysed frames: ``cpu`` or a hardware device (``cuda``...)."""
        with self._lock:
            self.decoder = decoder

    def on_dropped(self) -> None:
        """A frame counted by ``on_analysed`` was dropped before analysis (back-pressure): count it as
        dropped instead, and take one frame out of the analysed rate."""
        with self._lock:
            self.dropped_frames += 1
            self.analysed_frames = max(0, self.analysed_frames - 1)
            self._analysed.untick()

    # --- reading ----------------------------------------------------------------------------

    @property
    def input_fps(self) -> float:
        with self._lock:
            return self._input.value(time.time())

    @property
    def analysed_fps(self) -> float:
        with self._lock:
            return self._analysed.value(time.time())

    def as_dict(self) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            return {
                "source_id": self.source_id,
                "state": self._state_locked(now).value,
                "state_since": self.state_since_wall,
                "input_fps": round(self._input.value(now), 2),
                "analysed_fps": round(self._analysed.value(now), 2),
                "last_frame_media_s": self.last_frame_media_s,
                "last_frame_wall": self.last_frame_wall,
                "reconnects": self.reconnects,
                "connect_attempts": self.connect_attempts,
                "last_error": self.last_error,
                "last_error_wall": self.last_error_wall,
                "next_retry_wall": self.next_retry_wall,
                "packets": self.packets,
                "decoded_frames": self.decoded_frames,
                "analysed_frames": self.analysed_frames,
                "dropped_frames": self.dropped_frames,
                "decoder": self.decoder,
            }
