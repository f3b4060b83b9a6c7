"""Import a detector someone else exported: recognise its layout, write its manifest, check it on a frame,
register it. Nothing is registered unless the graph runs and its decoded output is plausible."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from models.layouts import GraphInfo, Layout, LayoutNotRecognised, read_graph, recognise
from models.manifest import ModelManifest, parse_manifest
from common.hashing import sha256_file
from models.registry import RegisteredModel, register_model

SPDX_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")


class ImportRefused(ValueError):
    """The model cannot be imported as it is; the message says why and what would fix it."""


@dataclass(frozen=True)
class FrameCheck:
    """What the model found on the sample frame: (class name, score, [x1, y1, x2, y2]) best first."""

    detections: list[tuple[str, float, list[float]]]
    candidates: int  # decoded boxes above the detector's threshold, before NMS


@dataclass(frozen=True)
class ImportResult:
    entry: RegisteredModel
    layout: Layout
    check: FrameCheck


def choose_classes(layout: Layout, given: Sequence[str] | None) -> list[str]:
    """The class names: those given, else the exporter's; their number must fit the outputs."""
    names = list(given) if given is not None else layout.class_names
    if not names:
        raise ImportRefused("the file's metadata stores no class names: give them (--classes FILE|coco80|coco91)")
    n = layout.num_classes
    # DETR heads may carry one extra no-object column
    fits = n is None or len(names) == n or (layout.decoder == "detr" and len(names) == n - 1)
    if not fits:
        raise ImportRefused(f"{len(names)} class names, but the {layout.kind} outputs score {n} classes")
    if len(set(names)) != len(names):
        raise ImportRefused("the class names contain duplicates")
    return names


def choose_licence(graph: GraphInfo, given: str | None) -> dict[str, Any]:
    """`license` manifest field: the SPDX id given, else the one the exporter stored (Ultralytics: AGPL-3.0)."""
    stored = graph.metadata.get("license", "").strip()
    text = given or (stored.split()[0] if stored else "")
    if not text:
        raise ImportRefused("the file's metadata names no licence: give the weights' licence (--licence SPDX-ID)")
    if not SPDX_LIKE.match(text):
        raise ImportRefused(f"licence {text!r} is not an SPDX identifier such as Apache-2.0 or AGPL-3.0")
    return {"model": text, **({"notes": f"exporter metadata: {stored}"} if stored else {})}


def manifest_fields(path: Path, graph: GraphInfo, layout: Layout, name: str, classes: list[str],
                    licence: dict[str, Any], version: str) -> dict[str, Any]:
    kept_meta = {k: v for k, v in graph.metadata.items() if k in ("description", "author", "version", "date", "task")}
    params = dict(layout.decoder_params)
    if layout.decoder == "tfod" and classes[0] == "background":  # a list indexed by label id (coco91)
        params["label_offset"] = 0
    return {"name": name, "version": version, "task": "detect", "decoder": layout.decoder, "class_names": classes,
            "input": layout.input, "decoder_params": params, "license": licence,
            "source": {"file": path.name, "sha256": sha256_file(path).sha256, "layout": layout.kind, "metadata": kept_meta},
            "conversion": {"tool": "streetsight models import", "graph": graph.describe()}}


def check_on_frame(path: Path, manifest: ModelManifest, frame: np.ndarray, min_score: float = 0.25) -> FrameCheck:
    """Run the model once and refuse what decodes to nonsense: non-finite numbers, scores outside 0..1
    (logits read as probabilities) or boxes far outside the input (fractions read as pixels, or the reverse)."""
    from models.detector import OnnxDetector

    det = OnnxDetector(path, manifest, min_score=min_score)
    prepared = det.prepare(frame)
    batch = det.preprocess.stack([prepared.tensor])
    try:
        outputs = det.session.run(det.decoder.output_names, {manifest.input.name: batch})
        cand = det.decoder(outputs, 0, 0.0)
    except Exception as exc:  # noqa: BLE001 - any failure here means the manifest does not fit the graph
        raise ImportRefused(f"the {manifest.decoder} decoder failed on the sample frame: {exc}") from None
    if not (np.isfinite(cand.xyxy).all() and np.isfinite(cand.scores).all()):
        raise ImportRefused("the decoded boxes or scores are not finite numbers on the sample frame")
    if len(cand.scores) and (cand.scores.min() < -1e-4 or cand.scores.max() > 1 + 1e-4):
        raise ImportRefused(f"decoded scores range {cand.scores.min():.3g}..{cand.scores.max():.3g}, not 0..1: "
                            "the outputs are not the probabilities this layout expects")
    h, w = batch.shape[1:3] if manifest.input.layout == "NHWC" else batch.shape[2:4]
    if len(cand.scores):
        far = (cand.xyxy[:, 2] < -w) | (cand.xyxy[:, 0] > 2 * w) | (cand.xyxy[:, 3] < -h) | (cand.xyxy[:, 1] > 2 * h)
        if far.mean() > 0.5:
            raise ImportRefused("most decoded boxes lie far outside the input: the box format does not fit")
    raw = det.detect([frame])[0]
    names = manifest.class_names
    found = [(names[int(c)], round(float(s), 4), [round(float(v), 1) for v in box])
             for box, s, c in zip(raw.xyxy, raw.scores, raw.class_ids)]
    return FrameCheck(found, int((cand.scores > min_score).sum()))


def import_model(path: str | Path, name: str, dest_dir: str | Path, frame: np.ndarray, *,
                 classes: Sequence[str] | None = None, licence: str | None = None, imgsz: int | None = None,
                 version: str = "1", overwrite: bool = False) -> ImportResult:
    path = Path(path)
    if not path.is_file():
        raise ImportRefused(f"{path}: no such file")
    try:
        graph = read_graph(path)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own message says what is wrong with the file
        raise ImportRefused(f"{path}: not a model onnxruntime can load: {str(exc).splitlines()[0]}") from None
    try:
        layout = recognise(graph, imgsz)
    except LayoutNotRecognised as exc:
        raise ImportRefused(f"{path}: {exc}") from None
    fields = manifest_fields(path, graph, layout, name, choose_classes(layout, classes),
                             choose_licence(graph, licence), version)
    manifest = parse_manifest({**fields, "file": path.name, "sha256": fields["source"]["sha256"]},
                              f"manifest for {path}")
    if (Path(dest_dir) / name / "manifest.json").exists() and not overwrite:
        raise ImportRefused(f"{Path(dest_dir) / name} already holds a model named {name!r} (--force replaces it)")
    check = check_on_frame(path, manifest, frame)
    fields["conversion"]["sample_frame"] = {"detections": len(check.detections), "candidates": check.candidates}
    return ImportResult(register_model(path, fields, dest_dir, overwrite=overwrite), layout, check)
