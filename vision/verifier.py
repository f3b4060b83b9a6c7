"""Per-camera verifier: nearest neighbours over reviewed incidents' appearance (crop embedding) and place.

Each reviewed incident of one camera is an `Example`: its event type, its object's embedding, its box
(normalised to the frame, so the place survives a change of stream resolution) and the reviewer's verdict.
A new `Candidate` is compared with the examples of its type **at the same place** (box IoU >= `place_iou`);
among those that look like it (cosine >= `min_similarity`) the nearest decides:

- a rejected example ("not a violation", "false detection", "permitted", ...) -> ``suppress``;
- a confirmed example -> ``boost`` (rank it higher);
- nothing near enough at that place -> ``keep``.

Appearance alone never suppresses: on the vtest street (mobilenetv2-embed) eight static objects each match
themselves 55 s later at 0.83-0.98, other kinds of object 0.44-0.81, but the three traffic cones at three
places match each other at 0.78-0.88; only appearance *and* place identify "this object here". A different
object at a rejected place, or the rejected object elsewhere, is kept. (A look-alike put exactly where a
rejected one stood, e.g. another cone of the same model, is taken for it.)
The context ring is carried but does not decide: at one place it varies as much as between places when
people walk past (0.75 for the sign on the plaza, same place 55 s apart).

Across cameras (`VerifierBook`): while a camera has fewer than ``min_camera_examples`` examples of a type, the
confirmed examples of that type at the other cameras may *boost* a candidate on appearance alone. They never
suppress: a place means nothing across cameras, and appearance alone must not mute a type.

Rejections for reasons that do not say the object is harmless (``duplicate``, ``poor_evidence``) are not
examples. Examples come and go one at a time (`add`, `remove`): a decision counts at once, no retraining.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterable, Literal

import numpy as np

from models.nms import box_iou_one
from vision.lazy_index import LazyTypeIndex, PerCamera

Verdict = Literal["confirmed", "rejected"]
Action = Literal["suppress", "boost", "keep"]
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 normalised to the frame (0..1)

NOT_EXAMPLE_REASONS = frozenset({"duplicate", "poor_evidence"})


@dataclass(frozen=True)
class Example:
    """A reviewed incident as the verifier sees it."""

    incident_id: str
    event_type: str
    crop: np.ndarray  # L2-normalised appearance [D]
    box: Box
    verdict: Verdict
    reason: str | None = None  # the reject reason code
    ring: np.ndarray | None = None


@dataclass(frozen=True)
class Candidate:
    """A would-be incident: its type, its object's embedding and its place."""

    event_type: str
    crop: np.ndarray
    box: Box
    ring: np.ndarray | None = None


@dataclass(frozen=True)
class Judgement:
    action: Action
    match: Example | None = None  # the example that decided (None for "keep" without a match)
    similarity: float = 0.0  # cosine of the candidate's and the match's crop embeddings
    overlap: float = 0.0  # IoU of their boxes


@dataclass(frozen=True)
class VerifierParams:
    min_similarity: float = 0.8  # same object: vtest static objects 0.83-0.98 over 55 s
    place_iou: float = 0.3  # same place: boxes overlap at least this much
    min_camera_examples: int = 3  # below this many of a type at a camera, other cameras' confirmations may boost
    not_example_reasons: frozenset[str] = field(default=NOT_EXAMPLE_REASONS)

    def __post_init__(self) -> None:
        if not -1.0 <= self.min_similarity <= 1.0:
            raise ValueError("min_similarity must be within -1..1")
        if not 0.0 < self.place_iou <= 1.0:
            raise ValueError("place_iou must be within (0, 1]")


def same_object_at_place(crop: np.ndarray, box: Box, crops: np.ndarray, boxes: np.ndarray, min_similarity: float,
                         place_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(which of the stored objects are this one at this place, their crop cosines, their box IoUs) for one
    object against stored ones (``crops`` [N, D] L2-normalised, ``boxes`` [N, 4] normalised)."""
    overlap = box_iou_one(np.asarray(box, dtype=float), boxes)
    similarity = crops @ np.asarray(crop, np.float32)
    return (overlap >= place_iou) & (similarity >= min_similarity), similarity, overlap


def normalised_box(box: Iterable[float], width: int, height: int) -> Box:
    """A pixel box (x1, y1, x2, y2) as fractions of the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1 / width, y1 / height, x2 / width, y2 / height


VerifierIndex = tuple[list[Example], np.ndarray, np.ndarray]  # examples, crops [E, D], boxes [E, 4]


class CameraVerifier:
    """The examples of one camera, by event type, and the nearest-neighbour judgement of candidates."""

    def __init__(self, params: VerifierParams | None = None, examples: Iterable[Example] = ()) -> None:
        self.params = params or VerifierParams()
        self._examples: dict[str, Example] = {}
        self._index: LazyTypeIndex[Example, VerifierIndex] = LazyTypeIndex(_verifier_index)
        self._lock = threading.Lock()  # decisions arrive from API threads while the pipeline judges
        for e in examples:
            self.add(e)

    def __len__(self) -> int:
        return len(self._examples)

    def is_example(self, example: Example) -> bool:
        return example.verdict == "confirmed" or example.reason not in self.params.not_example_reasons

    def add(self, example: Example) -> bool:
        """Learn from one decision (replacing an earlier one of the same incident); False if it teaches
        nothing (a rejection as duplicate or for poor evidence)."""
        with self._lock:
            self._forget(example.incident_id)
            if not self.is_example(example):
                return False
            self._examples[example.incident_id] = example
            self._index.drop(example.event_type)
            return True

    def remove(self, incident_id: str) -> bool:
        """Forget a decision (it was reversed or the incident removed)."""
        with self._lock:
            return self._forget(incident_id)

    def _forget(self, incident_id: str) -> bool:
        old = self._examples.pop(incident_id, None)
        if old is not None:
            self._index.drop(old.event_type)
        return old is not None

    def judge(self, candidate: Candidate) -> Judgement:
        index = self._type_index(candidate.event_type)
        if index is None:
            return Judgement("keep")
        examples, crops, boxes = index
        eligible, similarity, overlap = same_object_at_place(candidate.crop, candidate.box, crops, boxes,
                                                             self.params.min_similarity, self.params.place_iou)
        if not eligible.any():
            return Judgement("keep")
        best = int(np.argmax(np.where(eligible, similarity, -np.inf)))
        match = examples[best]
        action: Action = "suppress" if match.verdict == "rejected" else "boost"
        return Judgement(action, match, float(similarity[best]), float(overlap[best]))

    def count(self, event_type: str) -> int:
        index = self._type_index(event_type)
        return 0 if index is None else len(index[0])

    def resembles_confirmed(self, candidate: Candidate) -> Judgement:
        """Appearance only, anywhere in the frame: ``boost`` if a confirmed example of the type looks like
        it (the cross-camera fallback), else ``keep``. Never ``suppress``."""
        index = self._type_index(candidate.event_type)
        if index is None:
            return Judgement("keep")
        examples, crops, _ = index
        similarity = crops @ np.asarray(candidate.crop, np.float32)
        confirmed = np.array([e.verdict == "confirmed" for e in examples])
        eligible = confirmed & (similarity >= self.params.min_similarity)
        if not eligible.any():
            return Judgement("keep")
        best = int(np.argmax(np.where(eligible, similarity, -np.inf)))
        return Judgement("boost", examples[best], float(similarity[best]), 0.0)

    def _type_index(self, event_type: str) -> VerifierIndex | None:
        with self._lock:
            return self._index.get(event_type, self._examples.values())


def _verifier_index(examples: list[Example]) -> VerifierIndex:
    crops = np.stack([np.asarray(e.crop, np.float32) for e in examples])
    return examples, crops, np.asarray([e.box for e in examples], np.float64)


class VerifierBook:
    """One `CameraVerifier` per camera, plus the cross-camera fallback for cameras with few examples."""

    def __init__(self, params: VerifierParams | None = None) -> None:
        self.params = params or VerifierParams()
        self._cameras = PerCamera(lambda: CameraVerifier(self.params))

    def camera(self, source: str) -> CameraVerifier:
        return self._cameras.get(source)

    def add(self, source: str, example: Example) -> bool:
        return self.camera(source).add(example)

    def remove(self, source: str, incident_id: str) -> bool:
        return self.camera(source).remove(incident_id)

    def __len__(self) -> int:
        return sum(len(v) for _, v in self._cameras.items())

    def judge(self, source: str, candidate: Candidate) -> Judgement:
        own = self.camera(source)
        judgement = own.judge(candidate)
        if judgement.action != "keep" or own.count(candidate.event_type) >= self.params.min_camera_examples:
            return judgement
        others = [v for s, v in self._cameras.items() if s != source]
        boosts = [j for j in (v.resembles_confirmed(candidate) for v in others) if j.action == "boost"]
        return max(boosts, key=lambda j: j.similarity) if boosts else judgement
