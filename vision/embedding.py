"""Crop embeddings: image crops in, L2-normalised appearance vectors out, for learning from reviewers.

The backbone is a registered `task: embed` model (default `mobilenetv2-embed`: MobileNetV2 ImageNet
features, 1280-d, converted by models/conversion/convert_mobilenetv2_embed.py), run with onnxruntime and
fed exactly as its manifest says (224x224 stretch, RGB, ImageNet mean/std). Cosine similarity of two
embeddings is their dot product.

An object is described by two crops of the same frame: the object's box, and its context ring (the box
grown by `RING_MARGIN` of its size on each side, with the box itself painted grey), which says where it
stands rather than what it is.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from models.manifest import ManifestError, ModelManifest
from models.preprocess import Preprocessor
from models.registry import find_model, verify_checksum
from models.session import CPU, create_session

DEFAULT_EMBEDDING_MODEL = "mobilenetv2-embed"
RING_MARGIN = 0.5  # the context ring reaches half the box's width/height beyond each side
MIN_CROP_PIXELS = 2  # a box thinner than this (after clipping to the frame) is grown to it


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


@dataclass(frozen=True)
class ObjectEmbedding:
    """The appearance of an object (its box) and of its surroundings (the ring), both L2-normalised."""

    crop: np.ndarray  # float32 [D]
    ring: np.ndarray  # float32 [D]


class CropEmbedder:
    """`embed(crops)` -> float32 [N, D], one L2-normalised row per BGR uint8 HxWx3 crop, in batches."""

    def __init__(self, model_path: str, manifest: ModelManifest, providers: Sequence[str] = (CPU,),
                 threads: int = 0, max_batch: int = 16) -> None:
        if manifest.task != "embed":
            raise ManifestError(f"model {manifest.name}: field 'task' is {manifest.task!r}, CropEmbedder needs 'embed'")
        self.manifest = manifest
        self.output = str(manifest.decoder_params["output"])
        self.dim = int(manifest.decoder_params["embedding_dim"])
        self.session = create_session(model_path, providers, threads, label=manifest.name, spin=False)
        inputs = {i.name: i for i in self.session.get_inputs()}
        if manifest.input.name not in inputs:
            raise ManifestError(f"model {manifest.name}: field 'input.name' is {manifest.input.name!r}, "
                                f"the ONNX graph's inputs are {sorted(inputs)}")
        dynamic = not isinstance(inputs[manifest.input.name].shape[0], int)
        self.max_batch = max(1, int(max_batch)) if dynamic else 1
        self.preprocess = Preprocessor(manifest.input, self.max_batch)
        self._lock = threading.Lock()  # the preprocessor's buffer is shared: one batch at a time

    @classmethod
    def from_registry(cls, name: str = DEFAULT_EMBEDDING_MODEL, providers: Sequence[str] = (CPU,),
                      threads: int = 0, max_batch: int = 16) -> "CropEmbedder":
        entry = find_model(name)
        verify_checksum(entry)
        return cls(str(entry.model_path), entry.manifest, providers, threads, max_batch)

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        out = np.empty((len(crops), self.dim), np.float32)
        with self._lock:
            for start in range(0, len(crops), self.max_batch):
                chunk = crops[start:start + self.max_batch]
                batch, _ = self.preprocess.batch(chunk)
                (features,) = self.session.run([self.output], {self.manifest.input.name: batch})
                out[start:start + len(chunk)] = features
        return l2_normalise(out)

    def embed_objects(self, frame: np.ndarray, boxes: Sequence[Sequence[float]]) -> list[ObjectEmbedding]:
        """Each box's (x1, y1, x2, y2 in frame pixels) object and context-ring embeddings, in one batch."""
        crops: list[np.ndarray] = []
        for box in boxes:
            crops.append(object_crop(frame, box))
            crops.append(context_ring(frame, box))
        vectors = self.embed(crops) if crops else np.empty((0, self.dim), np.float32)
        return [ObjectEmbedding(vectors[2 * i], vectors[2 * i + 1]) for i in range(len(boxes))]


def _clip_box(frame: np.ndarray, box: Sequence[float]) -> tuple[int, int, int, int]:
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = sorted((min(max(x1, 0.0), w), min(max(x2, 0.0), w)))
    y1, y2 = sorted((min(max(y1, 0.0), h), min(max(y2, 0.0), h)))
    ix1, iy1 = int(np.floor(x1)), int(np.floor(y1))
    ix2, iy2 = int(np.ceil(x2)), int(np.ceil(y2))
    # a degenerate box still yields a crop: grow it to MIN_CROP_PIXELS inside the frame
    if ix2 - ix1 < MIN_CROP_PIXELS:
        ix1 = max(0, min(ix1, w - MIN_CROP_PIXELS))
        ix2 = min(w, ix1 + MIN_CROP_PIXELS)
    if iy2 - iy1 < MIN_CROP_PIXELS:
        iy1 = max(0, min(iy1, h - MIN_CROP_PIXELS))
        iy2 = min(h, iy1 + MIN_CROP_PIXELS)
    return ix1, iy1, ix2, iy2


def object_crop(frame: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The box's pixels (clipped to the frame)."""
    x1, y1, x2, y2 = _clip_box(frame, box)
    return frame[y1:y2, x1:x2]


def context_ring(frame: np.ndarray, box: Sequence[float], margin: float = RING_MARGIN) -> np.ndarray:
    """The box grown by `margin` of its size on each side (clipped to the frame), a copy with the box
    itself filled with mid-grey: what surrounds the object, not the object."""
    x1, y1, x2, y2 = _clip_box(frame, box)
    h, w = frame.shape[:2]
    mx, my = int(round((x2 - x1) * margin)), int(round((y2 - y1) * margin))
    ox1, oy1, ox2, oy2 = max(0, x1 - mx), max(0, y1 - my), min(w, x2 + mx), min(h, y2 + my)
    ring = frame[oy1:oy2, ox1:ox2].copy()
    ring[y1 - oy1:y2 - oy1, x1 - ox1:x2 - ox1] = 128
    return ring


@lru_cache(maxsize=None)
def shared_embedder(name: str = DEFAULT_EMBEDDING_MODEL, threads: int = 1) -> CropEmbedder:
    """One embedder per process and model, loaded on first use (one intra-op thread: it shares the CPU
    with decoding and detection)."""
    return CropEmbedder.from_registry(name, threads=threads)
