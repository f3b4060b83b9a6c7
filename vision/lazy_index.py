"""Learned examples indexed lazily: one learner per camera, made on first use, and a camera's examples by event
type, built on first use and dropped when one of that type changes. The shared shape of the per-camera verifier
(vision/verifier.py) and the taught-example classifier (vision/examples.py)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar


class Typed(Protocol):
    @property
    def event_type(self) -> str: ...


E = TypeVar("E", bound=Typed)
Index = TypeVar("Index")
T = TypeVar("T")


class PerCamera(Generic[T]):
    """One learner per camera, made on first use. Rules hold their camera's learner, which changes in place and
    is never replaced."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._cameras: dict[str, T] = {}
        self._lock = threading.Lock()

    def get(self, source: str) -> T:
        with self._lock:
            found = self._cameras.get(source)
            if found is None:
                found = self._cameras[source] = self._make()
            return found

    def items(self) -> list[tuple[str, T]]:
        with self._lock:
            return list(self._cameras.items())


class LazyTypeIndex(Generic[E, Index]):
    """Not locked: its owner calls it under the lock that guards the examples (decisions and taught examples
    arrive from API threads while the pipeline judges)."""

    def __init__(self, build: Callable[[list[E]], Index]) -> None:
        self._build = build
        self._built: dict[str, Index] = {}

    def get(self, event_type: str, examples: Iterable[E]) -> Index | None:
        """The index of the ``event_type`` ones among ``examples`` (all of the camera's); None when there are none."""
        index = self._built.get(event_type)
        if index is None:
            chosen = [e for e in examples if e.event_type == event_type]
            if not chosen:
                return None
            index = self._built[event_type] = self._build(chosen)
        return index

    def drop(self, event_type: str) -> None:
        self._built.pop(event_type, None)
