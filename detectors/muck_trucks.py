"""Uncovered muck trucks (渣土车未苫盖): a truck whose load is open to the wind.

Each analysed frame, every truck detection in a zone (``classes``) has its bed cropped (``bed``: the part of the
truck's box that holds the load, as fractions of the box) and judged by the camera's state classifier (a
`BinStateClassifier` on embeddings: positive = uncovered, trained from labelled crops or from reviewers'
examples, as for bins). A truck judged uncovered with probability >= ``min_uncovered`` is a candidate, under its
own track id; the core (a `SightingRule`: k of n frames) opens one incident per truck, so a truck that drives
through the view is found without having to stand still.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv

from detectors.context import FrameContext
from detectors.rule import CandidateRule, Core
from vision.bin_state import BinStateClassifier
from vision.examples import ExampleClassifier

UNCOVERED_CLASS = "truck_uncovered"


@dataclass(frozen=True)
class MuckTruckParams:
    classes: tuple[str, ...]
    bed: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 0.6)
    min_score: float = 0.35  # the truck detection
    min_uncovered: float = 0.6  # the state classifier's probability of "uncovered"
    min_bed_px: int = 12  # a smaller bed crop says nothing


def bed_crop(image: np.ndarray, box: np.ndarray, bed: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    bx1, by1 = int(max(0, x1 + bed[0] * w)), int(max(0, y1 + bed[1] * h))
    bx2, by2 = int(min(image.shape[1], x1 + bed[2] * w)), int(min(image.shape[0], y1 + bed[3] * h))
    return image[by1:by2, bx1:bx2]


class MuckTruckRule(CandidateRule):
    def __init__(self, core: Core, params: MuckTruckParams, classifier: BinStateClassifier | None,
                 learned: ExampleClassifier | None = None) -> None:
        super().__init__(core)
        self.params = params
        self.classifier = classifier
        self.learned = learned  # reviewers' examples of this camera: their state classifier, when no folder
        self.needs_image = True
        self.last_probabilities: dict[int, float] = {}  # track id -> P(uncovered), last frame

    def candidates(self, frame: FrameContext, detections: sv.Detections) -> sv.Detections:
        p = self.params
        self.last_probabilities = {}
        clf = self.classifier or (self.learned.state_classifier(self.event_type) if self.learned else None)
        if clf is None or frame.image is None or not len(detections) or detections.tracker_id is None:
            return sv.Detections.empty()
        names = detections.data.get("class_name", np.array([""] * len(detections), dtype=object))
        keep = np.zeros(len(detections), dtype=bool)
        probability = np.zeros(len(detections), dtype=np.float32)
        for i in range(len(detections)):
            if names[i] not in p.classes or detections.confidence[i] < p.min_score:
                continue
            crop = bed_crop(frame.image, detections.xyxy[i], p.bed)
            if min(crop.shape[:2]) < p.min_bed_px:
                continue
            probability[i] = clf.probability_full(crop)
            self.last_probabilities[int(detections.tracker_id[i])] = float(probability[i])
            keep[i] = probability[i] >= p.min_uncovered
        out = detections[keep]
        if len(out):
            out.confidence = np.minimum(out.confidence, probability[keep])  # both must hold
            out.data["class_name"] = np.array([UNCOVERED_CLASS] * len(out), dtype=object)
        return out
