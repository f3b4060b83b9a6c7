"""Street vending (占道经营): a stationary cluster of vendor items, with a vendor beside them.

With a COCO model the items are umbrella, dining table, chair, bicycle (tricycle carts), motorcycle and
suitcase, and a person must stand by them (``person_classes``): a parked bicycle alone is parking, not
vending. With a model that has vending classes (stall, cart, parasol, goods on the ground) list those as
items and set ``person_classes`` to empty: then each item cluster counts alone. The cluster's box is the
union of its *items* (the vendor walks about; the stall stays), judged for dwell by the core.

A vending spot can also be judged as a region state (issue 14): once the camera's reviewers have marked examples
of both states (stall present / absent, on its snapshots or from incidents), the state classifier they train
(vision/examples.py) judges the crop of each vending zone, like a bin region (detectors/region_state.py), and
replaces the item clusters there. That finds the stall the COCO model cannot see, and a look the reviewers marked
"absent" (a delivery tricycle at the kerb, an empty table) is no stall. Frames in which a vehicle covers the spot
are not judged; the vendor by the stall is part of the scene the examples show.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import supervision as sv

from detectors.candidates import BoxTracker, candidate_detections
from detectors.context import FrameContext
from detectors.region_state import StateClassifier, judge_regions
from detectors.rule import CandidateRule, Core
from vision.examples import ExampleClassifier

STALL_CLASS = "stall_present"  # the class of a candidate found by the spot's state


@dataclass(frozen=True)
class VendingParams:
    item_classes: tuple[str, ...]
    person_classes: tuple[str, ...] = ("person",)
    min_items: int = 1
    cluster_gap: float = 0.5  # fraction of the taller of two boxes
    min_score: float = 0.3
    state_min_probability: float = 0.6  # a spot judged by its state: probability of "stall present"
    occluder_classes: tuple[str, ...] = ("car", "bus", "truck")  # covering a spot: that frame is not judged
    max_occlusion: float = 0.2


def box_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Distance between two boxes' edges (0 when they overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return float(np.hypot(dx, dy))


def clusters(boxes: np.ndarray, gap: float) -> list[list[int]]:
    """Groups of boxes linked by gaps below ``gap`` x the taller box's height (single linkage)."""
    n = len(boxes)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    heights = boxes[:, 3] - boxes[:, 1]
    for i in range(n):
        for j in range(i + 1, n):
            if box_gap(boxes[i], boxes[j]) <= gap * max(heights[i], heights[j]):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


class VendingRule(CandidateRule):
    def __init__(self, core: Core, params: VendingParams, learned: ExampleClassifier | None = None) -> None:
        super().__init__(core)
        self.params = params
        self.learned = learned  # the camera's taught examples: their state classifier judges the vending spots
        self.needs_image = learned is not None
        self._ids = BoxTracker(min_iou=0.3, max_age=20)
        self.last_probabilities: dict[str, float] = {}

    def candidates(self, frame: FrameContext, detections: sv.Detections) -> sv.Detections:
        self.last_probabilities = {}
        taught = self.learned.state_classifier(self.event_type) if self.learned is not None else None
        if taught is not None and frame.image is not None:
            return self._ids.track(self._spot_states(frame.image, detections, taught))
        return self._ids.track(self._clusters(detections))

    def _spot_states(self, image: np.ndarray, detections: sv.Detections, classifier: StateClassifier) -> sv.Detections:
        p = self.params
        names = detections.data.get("class_name", np.array([""] * len(detections), dtype=object))
        occluders = [detections.xyxy[i] for i in range(len(detections)) if names[i] in p.occluder_classes]
        boxes, scores = [], []
        for state in judge_regions(image, self.zones, lambda _zone_id: classifier, occluders, p.max_occlusion):
            self.last_probabilities[state.zone_id] = state.probability
            if state.probability >= p.state_min_probability:
                boxes.append(state.candidate_box())
                scores.append(state.probability)
        return candidate_detections(boxes, scores, [STALL_CLASS] * len(boxes))

    def _clusters(self, detections: sv.Detections) -> sv.Detections:
        p = self.params
        out_boxes, out_scores, out_names = [], [], []
        if len(detections):
            names = detections.data.get("class_name", np.array([""] * len(detections), dtype=object))
            keep = (detections.confidence >= p.min_score) & np.array(
                [n in p.item_classes or n in p.person_classes for n in names], dtype=bool)
            idx = np.flatnonzero(keep)
            boxes = detections.xyxy[idx].astype(np.float64)
            for group in clusters(boxes, p.cluster_gap):
                items = [idx[g] for g in group if names[idx[g]] in p.item_classes]
                people = [idx[g] for g in group if names[idx[g]] in p.person_classes]
                if len(items) < p.min_items or (p.person_classes and not people):
                    continue
                item_boxes = detections.xyxy[items]
                out_boxes.append([item_boxes[:, 0].min(), item_boxes[:, 1].min(),
                                  item_boxes[:, 2].max(), item_boxes[:, 3].max()])
                out_scores.append(float(np.max(detections.confidence[items])))
                label = sorted({str(names[i]) for i in items}) + (["person"] if people else [])
                out_names.append("+".join(label)[:64])
        return candidate_detections(out_boxes, out_scores, out_names)
