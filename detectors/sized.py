"""Model classes with a size floor: objects of these classes, at least ``min_area`` of the frame, handed with the
pipeline's track ids to a core. 违规撑伞 uses it: a parasol standing at a shop front is large and stays; an
umbrella a pedestrian carries is smaller, and moves (the dwell core never confirms it)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv

from detectors.context import FrameContext
from detectors.rule import CandidateRule, Core


@dataclass(frozen=True)
class SizedParams:
    classes: tuple[str, ...]
    min_score: float = 0.35
    min_area: float = 0.0  # fraction of the frame


class SizedClassRule(CandidateRule):
    def __init__(self, core: Core, params: SizedParams) -> None:
        super().__init__(core)
        self.params = params

    def candidates(self, frame: FrameContext, detections: sv.Detections) -> sv.Detections:
        p = self.params
        if not len(detections):
            return detections
        names = detections.data.get("class_name", np.array([""] * len(detections), dtype=object))
        xyxy = detections.xyxy
        area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]) / float(max(1, frame.width * frame.height))
        keep = np.array([n in p.classes for n in names], dtype=bool) & (detections.confidence >= p.min_score) \
            & (area >= p.min_area)
        return detections[keep]
