"""The lazily built indexes that the per-camera verifier and the taught-example classifier share."""
from __future__ import annotations

from dataclasses import dataclass

from vision.lazy_index import LazyTypeIndex, PerCamera


@dataclass(frozen=True)
class Ex:
    event_type: str
    n: int


def test_a_type_index_is_built_once_until_that_type_changes() -> None:
    builds: list[list[int]] = []

    def build(examples: list[Ex]) -> tuple[int, ...]:
        builds.append([e.n for e in examples])
        return tuple(e.n for e in examples)

    index: LazyTypeIndex[Ex, tuple[int, ...]] = LazyTypeIndex(build)
    examples = [Ex("a", 1), Ex("b", 2), Ex("a", 3)]
    assert index.get("a", examples) == (1, 3) and index.get("a", examples) == (1, 3)
    assert index.get("c", examples) is None  # no example of the type: nothing built, nothing kept
    examples.append(Ex("a", 4))
    assert index.get("a", examples) == (1, 3)  # stale until its owner says the type changed
    index.drop("b")
    assert index.get("a", examples) == (1, 3)
    index.drop("a")
    assert index.get("a", examples) == (1, 3, 4)
    assert builds == [[1, 3], [1, 3, 4]]


def test_each_camera_keeps_the_learner_made_for_it() -> None:
    cameras = PerCamera(list)
    first = cameras.get("cam-1")
    first.append("x")
    assert cameras.get("cam-1") is first and cameras.get("cam-2") == []
    assert [source for source, _ in cameras.items()] == ["cam-1", "cam-2"]
