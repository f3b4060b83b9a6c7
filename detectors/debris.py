"""Debris spills and dumped objects (道路遗撒 / 积存垃圾): model classes and class-agnostic static objects.

The same rule, with its own classes, sizes and shapes, judges piled material (乱堆物料), bagged garbage
(打包垃圾) and goods outside a shop (店外经营): each is "something that should not be there, lying still".

Candidates are the model's debris-class detections (when a model has them) and the static objects of
`vision.static_objects` (fixed cameras only), with regions covered by tracked people and vehicles
ignored. The two signals are combined: a static object that a debris detection overlaps takes that
detection's class and the higher of the two scores; each alone is a candidate too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv

from detectors.candidates import BoxTracker, candidate_detections
from detectors.context import FrameContext
from detectors.rule import CandidateRule, Core
from detectors.stationarity import iou
from vision.static_objects import StaticObjectDetector

STATIC_CLASS = "static_object"


@dataclass(frozen=True)
class DebrisParams:
    classes: tuple[str, ...]  # model classes that are debris
    ignore_classes: tuple[str, ...]  # tracked objects whose regions are not debris
    min_score: float = 0.35
    aspect: tuple[float, float] = (0.0, float("inf"))  # static objects: allowed width / height (shape)
    # mask people and vehicles by the detector's untracked boxes (a fast walker ByteTrack never confirms still covers
    # the goods); off for debris on open ground, where a stray untracked box over a still object (the vtest plaza
    # sign) would hide that object for good
    mask_untracked: bool = False


class DebrisRule(CandidateRule):
    def __init__(self, core: Core, params: DebrisParams, static: StaticObjectDetector | None) -> None:
        super().__init__(core)
        self.params = params
        self.static = static
        self.needs_image = static is not None
        self._ids = BoxTracker(min_iou=0.3, max_age=20)
        self.last_blobs: list = []

    def candidates(self, frame: FrameContext, detections: sv.Detections) -> sv.Detections:
        p = self.params
        names = detections.data.get("class_name") if len(detections) else None
        names = names if names is not None else np.array([], dtype=object)
        debris = [i for i in range(len(detections))
                  if names[i] in p.classes and detections.confidence[i] >= p.min_score]
        boxes = [detections.xyxy[i].astype(np.float64) for i in debris]
        scores = [float(detections.confidence[i]) for i in debris]
        labels = [str(names[i]) for i in debris]

        if self.static is not None and frame.image is not None:
            ignore = self._ignored(frame, detections)
            self.last_blobs = self.static.update(frame.image, ignore)
            for blob in self.last_blobs:
                b = np.asarray(blob.box, dtype=np.float64)
                if not p.aspect[0] <= (b[2] - b[0]) / max(b[3] - b[1], 1e-6) <= p.aspect[1]:
                    continue  # not the shape this scene's objects have (a long rail is no bag)
                match = max(range(len(boxes)), key=lambda k: iou(b, boxes[k]), default=None)
                if match is not None and iou(b, boxes[match]) >= 0.3:
                    scores[match] = max(scores[match], blob.score)  # both signals agree
                    continue
                boxes.append(b)
                scores.append(blob.score)
                labels.append(STATIC_CLASS)
        return self._ids.track(candidate_detections(boxes, scores, labels))

    def _ignored(self, frame: FrameContext, tracked: sv.Detections) -> np.ndarray:
        """Boxes of people and vehicles, whose regions are no static objects. Taken from the detector's output
        before tracking when the frame has it: a walker crossing fast at 2 fps is not tracked (ByteTrack does
        not confirm a track whose boxes barely overlap), yet still covers the ground."""
        p = self.params
        dets = frame.detections if p.mask_untracked and frame.detections is not None else tracked
        if not len(dets):
            return np.zeros((0, 4), np.float64)
        names = dets.data.get("class_name")
        if names is None:
            return np.zeros((0, 4), np.float64)
        keep = np.array([n in p.ignore_classes for n in names], dtype=bool) & (dets.confidence >= p.min_score)
        return dets.xyxy[keep].astype(np.float64).reshape(-1, 4)
