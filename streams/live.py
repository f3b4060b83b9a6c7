"""Readers in daemon threads: ``ReaderThread`` hands every frame to a callback (many sources feeding one
batching queue); ``ThreadedSource`` hands frames over through its own small drop-oldest queue."""
from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

from streams.frames import Frame
from streams.health import SourceHealth

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    health: SourceHealth

    def frames(self): ...  # -> Iterator[Frame]

    def stop(self) -> None: ...


class ReaderThread:
    """Runs ``reader.frames()`` in a daemon thread and calls ``sink(frame)`` for each frame.

    One thread per source: the blocking work (network reads, demuxing, decoding) runs in FFmpeg with
    the GIL released, so hundreds of these share a process well. The thread never raises: an
    exception from the reader or the sink ends it and is kept in ``error`` (and logged).
    """

    def __init__(self, reader: FrameSource, sink: Callable[[Frame], None],
                 on_done: Callable[[], None] | None = None) -> None:
        self.reader = reader
        self.sink = sink
        self.on_done = on_done
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"source-{getattr(reader, 'source_id', '?')}", daemon=True
        )

    @property
    def health(self) -> SourceHealth:
        return self.reader.health

    def start(self) -> ReaderThread:
        """Start the thread; idempotent."""
        if self._thread.ident is None:
            self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the reader and join the thread (a blocked network read ends within its read timeout)."""
        self.reader.stop()
        self.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            for frame in self.reader.frames():
                self.sink(frame)
        except BaseException as exc:  # noqa: BLE001 - keep it for the owner; a thread cannot raise to it
            self.error = exc
            log.exception("source thread %s crashed", self._thread.name)
        finally:
            if self.on_done is not None:
                self.on_done()


class ThreadedSource:
    """Runs ``reader.frames()`` in a daemon thread; ``get()`` returns the oldest frame still queued.

    A live camera does not wait for a slow consumer: when the queue is full the OLDEST frame is
    dropped (and counted in ``dropped_frames``), so the consumer always catches up to recent video
    and memory stays bounded at ``queue_size`` frames.
    """

    def __init__(self, reader: FrameSource, queue_size: int = 4, *, start: bool = True) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.reader = reader
        self.queue_size = queue_size
        self.dropped_frames = 0
        self.received_frames = 0
        self._queue: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._done = False
        self._worker = ReaderThread(reader, self._put, on_done=self._finished)
        self._thread = self._worker._thread
        if start:
            self.start()

    @property
    def health(self) -> SourceHealth:
        return self.reader.health

    @property
    def error(self) -> BaseException | None:
        return self._worker.error

    def start(self) -> ThreadedSource:
        """Start the thread (done by the constructor unless ``start=False``); idempotent."""
        self._worker.start()
        return self

    def __enter__(self) -> ThreadedSource:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def done(self) -> bool:
        """True when the reader has ended and every queued frame has been taken."""
        with self._cond:
            return self._done and not self._queue

    def get(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None after ``timeout`` seconds or when the reader has ended."""
        with self._cond:
            self._cond.wait_for(lambda: self._queue or self._done, timeout)
            return self._queue.popleft() if self._queue else None

    def stop(self, timeout: float | None = None) -> None:
        """Stop the reader and join the thread (a blocked network read ends within its read timeout)."""
        self._worker.stop(timeout)

    def _put(self, frame: Frame) -> None:
        dropped = False
        with self._cond:
            self.received_frames += 1
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self.dropped_frames += 1
                dropped = True
            self._queue.append(frame)
            self._cond.notify()
        health = getattr(self.reader, "health", None)
        if dropped and health is not None:
            health.on_dropped()

    def _finished(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify_all()
