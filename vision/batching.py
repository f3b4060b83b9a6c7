"""Cross-source batching: many producers (one per camera) feed one consumer that runs the model on batches.

Each source has its own short queue; when inference falls behind, the OLDEST item of that source is
dropped (and counted), so memory stays bounded at ``per_source`` items per source and the model always
works on recent video. A batch takes at most one item per source, sources in the order they became
ready, so one busy camera cannot starve the others.

``SplitDetector`` splits detection in two: pre-processing (resize, letterbox, normalise) runs in each
producer's thread, so the consumer only stacks the inputs into its preallocated batch buffer and runs
the model; on a GPU node the model is not kept waiting while one thread resizes 16 frames.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import numpy as np
import supervision as sv

from models.detector import PreparedInput
from vision.detection import FrameDetector, to_detections

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class BatchQueue(Generic[K, T]):
    """``put(key, item)`` from any thread; ``take(max_items, timeout)`` from the inference thread."""

    def __init__(self, per_source: int = 2, on_drop: Callable[[K, T], None] | None = None) -> None:
        if per_source < 1:
            raise ValueError("per_source must be at least 1")
        self.per_source = per_source
        self.on_drop = on_drop
        self.dropped: dict[K, int] = {}
        self._queues: dict[K, deque[T]] = {}
        self._ready: OrderedDict[K, None] = OrderedDict()  # sources with items, oldest readiness first
        self._cond = threading.Condition()
        self._closed = False

    def put(self, key: K, item: T) -> None:
        dropped: T | None = None
        with self._cond:
            if self._closed:
                return
            q = self._queues.get(key)
            if q is None:
                q = self._queues[key] = deque()
            if len(q) >= self.per_source:
                dropped = q.popleft()
                self.dropped[key] = self.dropped.get(key, 0) + 1
            q.append(item)
            if key not in self._ready:
                self._ready[key] = None
            self._cond.notify()
        if dropped is not None and self.on_drop is not None:
            self.on_drop(key, dropped)

    def take(self, max_items: int, timeout: float | None = None, linger_s: float = 0.0) -> list[tuple[K, T]]:
        """Up to ``max_items`` items, at most one per source; waits up to ``timeout`` for the first.

        ``linger_s``: once one item is there, wait this much longer for the batch to fill (useful on a
        GPU, where a fuller batch costs little more than one item). Returns [] on timeout or close.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._ready or self._closed, timeout):
                return []
            if linger_s > 0 and len(self._ready) < max_items and not self._closed:
                deadline = time.monotonic() + linger_s
                while len(self._ready) < max_items and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
            batch: list[tuple[K, T]] = []
            while self._ready and len(batch) < max_items:
                key, _ = self._ready.popitem(last=False)
                batch.append((key, self._queues[key].popleft()))
            for key, _ in batch:
                if self._queues[key]:
                    self._ready[key] = None  # more of this source: behind every other ready one
            return batch

    def has_pending(self, key: K) -> bool:
        with self._cond:
            q = self._queues.get(key)
            return bool(q)

    def discard(self, key: K) -> int:
        """Forget a source's queued items (it was removed); returns how many."""
        with self._cond:
            q = self._queues.pop(key, None)
            self._ready.pop(key, None)
            return len(q) if q else 0

    def pending(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def close(self) -> None:
        """Wake the consumer; later puts are ignored."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class SplitDetector:
    """A FrameDetector used in two halves: ``prepare`` in any thread, ``detect`` on prepared inputs."""

    def __init__(self, detector: FrameDetector) -> None:
        self.frame_detector = detector
        self.detector = detector.detector

    def prepare(self, image: np.ndarray) -> PreparedInput:
        return self.detector.prepare(image)

    def detect(self, prepared: list[PreparedInput]) -> list[sv.Detections]:
        names = self.detector.class_names
        return [to_detections(r, names) for r in self.detector.detect_prepared(prepared)]
