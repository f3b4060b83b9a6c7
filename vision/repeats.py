"""Repeat offenders: is a new incident the same object, at the same place, as earlier offences that are over?

The rule is the verifier's notion of "this object here" (`vision.verifier.same_object_at_place`): crop cosine
>= ``min_similarity`` and box IoU >= ``place_iou`` in the same camera. Appearance alone never links: look-alikes
at other places (three traffic cones on vtest match each other at 0.78-0.88) are different offenders, and a
stall moved to another pitch is a new offence at that pitch, not a repeat at the old one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vision.verifier import Box, same_object_at_place


@dataclass(frozen=True)
class Sighting:
    """An earlier offence as the matcher sees it."""

    key: str  # the incident's id
    crop: np.ndarray  # L2-normalised appearance [D]
    box: Box  # normalised to the frame


@dataclass(frozen=True)
class RepeatMatch:
    sighting: Sighting
    similarity: float
    overlap: float


@dataclass(frozen=True)
class RepeatParams:
    min_similarity: float = 0.8  # same object: vtest static objects match themselves at 0.83-0.98
    place_iou: float = 0.3  # same place


def repeats_of(crop: np.ndarray, box: Box, earlier: Sequence[Sighting],
               params: RepeatParams = RepeatParams()) -> list[RepeatMatch]:
    """The earlier sightings of this object at this place, most similar first."""
    if not earlier:
        return []
    crops = np.stack([np.asarray(s.crop, np.float32) for s in earlier])
    boxes = np.asarray([s.box for s in earlier], np.float64)
    same, similarity, overlap = same_object_at_place(crop, box, crops, boxes, params.min_similarity,
                                                     params.place_iou)
    found = [RepeatMatch(earlier[i], float(similarity[i]), float(overlap[i])) for i in np.flatnonzero(same)]
    return sorted(found, key=lambda m: -m.similarity)
