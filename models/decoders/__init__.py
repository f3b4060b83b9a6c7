"""Decoders turn one image's raw network outputs into candidate boxes (network-input pixels) before NMS."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from models.manifest import ModelManifest


@dataclass
class Candidates:
    xyxy: np.ndarray  # float32 [K, 4], network-input pixels
    scores: np.ndarray  # float32 [K]
    class_ids: np.ndarray  # int64 [K]


class Decoder(Protocol):
    output_names: list[str]

    def __call__(self, outputs: Sequence[np.ndarray], i: int, min_score: float) -> Candidates:
        """`outputs` are the session outputs named by `output_names` (batch first); `i` picks the image."""
        ...


def top_k(c: Candidates, k: int) -> Candidates:
    if len(c.scores) <= k:
        return c
    idx = np.argpartition(-c.scores, k)[:k]
    return Candidates(c.xyxy[idx], c.scores[idx], c.class_ids[idx])


def empty_candidates() -> Candidates:
    return Candidates(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64))


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    """[K, 4] centre x, centre y, width, height -> x1, y1, x2, y2 (float32)."""
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1).astype(np.float32)


# decoder name -> "module:class"; imported on use so that a model loads only the code it needs
DECODERS = {
    "nanodet": "models.decoders.nanodet:NanoDetDecoder",
    "yolo": "models.decoders.yolo:YoloDecoder",
    "yolov5": "models.decoders.yolov5:YoloV5Decoder",
    "yolox": "models.decoders.yolov5:YoloXDecoder",
    "end2end": "models.decoders.end2end:EndToEndDecoder",
    "detr": "models.decoders.detr:DetrDecoder",
    "tfod": "models.decoders.tfod:TfodDecoder",
}


def build_decoder(manifest: ModelManifest) -> Decoder:
    import importlib

    if manifest.decoder not in DECODERS:
        raise ValueError(f"no decoder named {manifest.decoder!r}")
    module, cls = DECODERS[manifest.decoder].split(":")
    return getattr(importlib.import_module(module), cls)(manifest)
