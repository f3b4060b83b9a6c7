"""The full-size snapshots this process recently served, kept by frame id so that a box drawn on one is cut from
that very picture (``POST /api/v1/sources/{id}/examples`` with ``frame``), not from whatever the camera shows
when the POST arrives (a passer-by may cover the object by then).

Bounded, because every full-size snapshot served is kept: per camera the last `PER_CAMERA` (a reviewer draws on
the one on screen; two more cover a reload or a second tab), in all at most `MAX_BYTES` of JPEG (a 1080p frame is
0.2-0.5 MB, so 64 MiB holds over a hundred cameras' worth), each for `KEEP_S` (drawing a box takes seconds; after
two minutes the reviewer is asked to reload rather than teach from a stale picture). Oldest go first.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

PER_CAMERA = 3
MAX_BYTES = 64 * 1024 * 1024
KEEP_S = 120.0


def frame_id_of(wall_time: float) -> str:
    """The id a served frame goes by: its analysis time in microseconds (one camera analyses no two frames in the
    same microsecond). Opaque to clients; digits only, so it is safe in a Redis key."""
    return str(round(wall_time * 1_000_000))


class ServedFrames:
    """Thread-safe (source, frame id) -> JPEG, oldest first, within the bounds above."""

    def __init__(self, per_camera: int = PER_CAMERA, max_bytes: int = MAX_BYTES, keep_s: float = KEEP_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_camera = per_camera
        self.max_bytes = max_bytes
        self.keep_s = keep_s
        self.clock = clock
        self._frames: OrderedDict[tuple[str, str], tuple[float, bytes]] = OrderedDict()  # -> (kept at, jpeg)
        self._bytes = 0
        self._lock = threading.Lock()

    def keep(self, source_id: str, frame_id: str, jpeg: bytes) -> None:
        with self._lock:
            self._drop((source_id, frame_id))
            self._frames[(source_id, frame_id)] = (self.clock(), jpeg)
            self._bytes += len(jpeg)
            self._expire()
            mine = [key for key in self._frames if key[0] == source_id]
            for key in mine[:-self.per_camera]:
                self._drop(key)
            while self._bytes > self.max_bytes and len(self._frames) > 1:
                self._drop(next(iter(self._frames)))

    def get(self, source_id: str, frame_id: str) -> bytes | None:
        with self._lock:
            self._expire()
            entry = self._frames.get((source_id, frame_id))
            return entry[1] if entry is not None else None

    def total_bytes(self) -> int:
        with self._lock:
            return self._bytes

    def _expire(self) -> None:
        cutoff = self.clock() - self.keep_s
        while self._frames and next(iter(self._frames.values()))[0] < cutoff:
            self._drop(next(iter(self._frames)))

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self._frames.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1])
