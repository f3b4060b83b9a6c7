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
from detectors.region_state import judge_regions
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
            for state in judge_regions(frame.image, self.zones, lambda zone_id: self.classifiers.get(zone_id, taught),
                                       occluders, p.max_occlusion):
                self.last_probabilities[state.zone_id] = state.probability
                boxes.append(state.candidate_box())
                scores.append(state.probability)
                labels.append(FULL_CLASS)
        return self._ids.track(candidate_detections(boxes, scores, labels))
