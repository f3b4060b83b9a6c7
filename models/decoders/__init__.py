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


def build_decoder(manifest: ModelManifest) -> Decoder:
    if manifest.decoder == "nanodet":
        from models.decoders.nanodet import NanoDetDecoder
        return NanoDetDecoder(manifest)
    if manifest.decoder == "yolo":
        from models.decoders.yolo import YoloDecoder
        return YoloDecoder(manifest)
    raise ValueError(f"no decoder named {manifest.decoder!r}")
