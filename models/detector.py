"""OnnxDetector: BGR images in, boxes in original-image pixels out, for any registered detection model."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import onnxruntime as ort

from models.decoders import build_decoder, top_k
from models.manifest import ManifestError, ModelManifest
from models.nms import nms_per_class
from models.preprocess import Preprocessor, Transform
from models.registry import find_model, verify_checksum
from models.session import CPU, create_session

MAX_CANDIDATES = 2000  # pre-NMS cap per image, bounds NMS time on noisy frames


@dataclass
class RawDetections:
    xyxy: np.ndarray  # float32 [N, 4], original-image pixels, clipped to the image
    scores: np.ndarray  # float32 [N]
    class_ids: np.ndarray  # int64 [N]

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> "RawDetections":
        return cls(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, np.int64))


@dataclass
class PreparedInput:
    """One image pre-processed for the network: its input [3, h, w] and the map back to its pixels."""

    tensor: np.ndarray
    transform: Transform


class OnnxDetector:
    def __init__(self, model_path: str | Path, manifest: ModelManifest, providers: Sequence[str] = (CPU,),
                 threads: int = 0, min_score: float = 0.3, iou_threshold: float = 0.5,
                 max_detections: int = 300, max_batch: int = 16,
                 provider_options: Mapping[str, Mapping[str, Any]] | None = None, spin: bool = True) -> None:
        if manifest.task != "detect":
            raise ManifestError(f"model {manifest.name}: field 'task' is {manifest.task!r}, OnnxDetector needs 'detect'")
        self.manifest = manifest
        self.min_score = float(min_score)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        self.session = create_session(model_path, providers, threads, label=manifest.name,
                                      provider_options=provider_options, spin=spin)
        self.session_seconds = 0.0  # wall time spent in session.run
        # CPU time of the calling thread in session.run: the model's whole CPU cost with one intra-op
        # thread (onnxruntime then runs on the caller), a lower bound with more
        self.session_cpu_seconds = 0.0
        self.provider: str = self.session.get_providers()[0]
        inp = self._check_input()
        self.dynamic_batch = not isinstance(inp.shape[0], int)
        self.max_batch = max(1, int(max_batch)) if self.dynamic_batch else 1
        self.decoder = build_decoder(manifest)
        known = {o.name for o in self.session.get_outputs()}
        missing = [n for n in self.decoder.output_names if n not in known]
        if missing:
            raise ManifestError(f"model {manifest.name}: outputs {missing} named by the manifest are not in the "
                                f"ONNX graph (it has {sorted(known)})")
        # A graph with dynamic height and width (YOLO `dynamic=True` exports) takes letterboxed batches
        # padded to the stride only (rectangular), like Ultralytics' own predictor.
        hw = inp.shape[1:3] if manifest.input.layout == "NHWC" else inp.shape[2:4]
        dynamic_hw = not isinstance(hw[0], int) and not isinstance(hw[1], int)
        # only graphs whose decoder reads boxes independently of the input size may take rectangular inputs
        stride = manifest.decoder_params.get("stride", 32 if manifest.decoder in ("yolo", "yolov5", "end2end") else None)
        self.preprocess = Preprocessor(manifest.input, self.max_batch, rect_stride=stride if dynamic_hw else None)

    @classmethod
    def from_registry(cls, name: str, providers: Sequence[str] = (CPU,), threads: int = 0,
                      min_score: float = 0.3, iou_threshold: float = 0.5, **kwargs) -> "OnnxDetector":
        entry = find_model(name)
        verify_checksum(entry)
        return cls(entry.model_path, entry.manifest, providers, threads, min_score, iou_threshold, **kwargs)

    @property
    def class_names(self) -> list[str]:
        return list(self.manifest.class_names)

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        return self.manifest.input_size

    def _check_input(self) -> ort.NodeArg:
        inputs = {i.name: i for i in self.session.get_inputs()}
        spec = self.manifest.input
        if spec.name not in inputs:
            raise ManifestError(f"model {self.manifest.name}: field 'input.name' is {spec.name!r}, "
                                f"the ONNX graph's inputs are {sorted(inputs)}")
        inp = inputs[spec.name]
        h, w = (inp.shape[1], inp.shape[2]) if spec.layout == "NHWC" else (inp.shape[2], inp.shape[3])
        if (isinstance(h, int) and h != spec.height) or (isinstance(w, int) and w != spec.width):
            raise ManifestError(f"model {self.manifest.name}: fields 'input.width'/'input.height' say "
                                f"{spec.width}x{spec.height}, the ONNX input is {w}x{h}")
        return inp

    def detect(self, images: Sequence[np.ndarray]) -> list[RawDetections]:
        """One RawDetections per BGR uint8 HxWx3 image; one session call per `max_batch` images."""
        results: list[RawDetections] = []
        for start in range(0, len(images), self.max_batch):
            results.extend(self._detect_batch(images[start:start + self.max_batch]))
        return results

    def prepare(self, image: np.ndarray) -> PreparedInput:
        """The per-image half of `detect`, safe from any thread: pre-processing where the frame is made."""
        tensor, transform = self.preprocess.prepare(image)
        return PreparedInput(tensor, transform)

    def detect_prepared(self, items: Sequence[PreparedInput]) -> list[RawDetections]:
        """`detect` for prepared inputs: one session call per input shape and `max_batch` inputs."""
        results: list[RawDetections | None] = [None] * len(items)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault(item.tensor.shape, []).append(i)
        for indices in groups.values():
            for start in range(0, len(indices), self.max_batch):
                chunk = indices[start:start + self.max_batch]
                batch = self.preprocess.stack([items[i].tensor for i in chunk])
                for i, r in zip(chunk, self._run(batch, [items[i].transform for i in chunk])):
                    results[i] = r
        return results  # type: ignore[return-value]

    def _detect_batch(self, images: Sequence[np.ndarray]) -> list[RawDetections]:
        batch, transforms = self.preprocess.batch(images)
        return self._run(batch, transforms)

    def _run(self, batch: np.ndarray, transforms: Sequence[Transform]) -> list[RawDetections]:
        feed = {self.manifest.input.name: batch}
        t0, c0 = time.perf_counter(), time.thread_time()
        # half-precision graphs answer in float16: decode in float32
        outputs = [o.astype(np.float32) if o.dtype == np.float16 else o
                   for o in self.session.run(self.decoder.output_names, feed)]
        self.session_seconds += time.perf_counter() - t0  # how busy the model is, for benchmarks
        self.session_cpu_seconds += time.thread_time() - c0
        results = []
        for i, t in enumerate(transforms):
            c = top_k(self.decoder(outputs, i, self.min_score), MAX_CANDIDATES)
            keep = nms_per_class(c.xyxy, c.scores, c.class_ids, self.iou_threshold, self.max_detections)
            xyxy = t.to_original(c.xyxy[keep])
            # a box that lies wholly in the letterbox padding or outside the image clips to nothing
            inside = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
            keep, xyxy = keep[inside], xyxy[inside]
            results.append(RawDetections(xyxy, c.scores[keep].astype(np.float32), c.class_ids[keep].astype(np.int64)))
        return results
