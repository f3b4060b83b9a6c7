"""Overflowing bins (垃圾箱满溢): a per-camera bin region judged full for the dwell time.

A bin region is a zone with ``events: [overflowing_bin]``. Each analysed frame in which no tracked person
or vehicle covers the region, its crop is judged by the region's few-shot `BinStateClassifier`; a "full"
probability becomes a candidate covering the region. A model with an ``overflowing_bin`` class adds its
detections as candidates of their own. A region without an ``examples_dir`` classifier is judged by the state
classifier that reviewers' examples on this camera's snapshots train (``learned``), as soon as it has both states.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import supervision as sv

from detectors.candidates import BoxTracker, candidate_detections
from detectors.context import FrameContext
from detectors.rule import CandidateRule, Core
from vision.bin_state import BinStateClassifier
from vision.examples import ExampleClassifier

FULL_CLASS = "bin_full"


@dataclass(frozen=True)
class BinParams:
    classes: tuple[str, ...]  # model classes meaning "overflowing bin"
    occluder_classes: tuple[str, ...]
    min_score: float = 0.6
    max_occlusion: float = 0.2  # fraction of the region covered before a frame is not judged


def _overlap_fraction(region: np.ndarray, box: np.ndarray) -> float:
    w = max(0.0, min(region[2], box[2]) - max(region[0], box[0]))
    h = max(0.0, min(region[3], box[3]) - max(region[1], box[1]))
    area = (region[2] - region[0]) * (region[3] - region[1])
    return float(w * h / area) if area > 0 else 0.0


class BinRule(CandidateRule):
    def __init__(self, core: Core, params: BinParams, classifiers: Mapping[str, BinStateClassifier],
                 learned: ExampleClassifier | None = None) -> None:
        super().__init__(core)
        self.params = params
        self.classifiers = dict(classifiers)  # zone id -> classifier of that bin region
        self.learned = learned  # the camera's taught examples: their state classifier judges the other regions
        self.needs_image = bool(self.classifiers) or learned is not None
        self._ids = BoxTracker(min_iou=0.3, max_age=20)
        self.last_probabilities: dict[str, float] = {}

    def candidates(self, frame: FrameContext, detections: sv.Detections) -> sv.Detections:
        p = self.params
        names = detections.data.get("class_name") if len(detections) else None
        names = names if names is not None else np.array([], dtype=object)
        boxes, scores, labels = [], [], []
        for i in range(len(detections)):
            if names[i] in p.classes:
                boxes.append(detections.xyxy[i])
                scores.append(float(detections.confidence[i]))
                labels.append(str(names[i]))
        occluders = [detections.xyxy[i] for i in range(len(detections)) if names[i] in p.occluder_classes]
        self.last_probabilities = {}
        taught = self.learned.state_classifier(self.event_type) if self.learned is not None else None
        if frame.image is not None:
            for zone in self.zones:
                clf = self.classifiers.get(zone.id, taught)
                if clf is None:
                    continue
                poly = zone.pixel_polygon(frame.width, frame.height)
                x1, y1 = np.clip(poly.min(axis=0), 0, [frame.width - 1, frame.height - 1])
                x2, y2 = np.clip(poly.max(axis=0), 1, [frame.width, frame.height])
                region = np.array([x1, y1, x2, y2], dtype=np.float64)
                if any(_overlap_fraction(region, b) > p.max_occlusion for b in occluders):
                    continue  # someone stands in front of the bin: this frame says nothing
                prob = clf.probability_full(frame.image[int(y1):int(y2), int(x1):int(x2)])
                self.last_probabilities[zone.id] = prob
                # Shrink the box a little so its bottom-centre anchor lies inside the region's polygon.
                inset = 0.05 * (y2 - y1)
                boxes.append([x1, y1, x2, y2 - inset])
                scores.append(prob)
                labels.append(FULL_CLASS)
        return self._ids.track(candidate_detections(boxes, scores, labels))
