"""Evaluate the configured rules on labelled videos: run, match, score, report."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from streetsight import event_types
from streetsight.config import Config
from streetsight.evaluation.annotations import AnnotationError, VideoAnnotation, load_annotation
from streetsight.evaluation.matching import VideoResult, match_video, plate_accuracy, score
from streetsight.evaluation.report import write_report
from streetsight.evaluation.runner import (ReplayDetections, find_video, model_detect, run_video, source_for,
                                           video_info)

log = logging.getLogger(__name__)


def annotation_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.glob("*.json") if not p.name.endswith(".detections.json"))
    if not files:
        raise AnnotationError(f"{folder}: no annotation files (*.json)")
    return files


def run_annotated(cfg: Config, annotations: Path, videos: Path, out: Path,
                  detections: Path | None = None) -> list[tuple[VideoAnnotation, VideoResult]]:
    """Each labelled video run through the pipeline (evidence under ``out/evidence``) and matched."""
    aliases = {cfg.taxonomy.for_type(t).zh: t for t in event_types.names()}
    detector = None
    results: list[tuple[VideoAnnotation, VideoResult]] = []
    for path in annotation_files(annotations):
        fps_cache: dict[str, tuple[float, float]] = {}

        def fps_of(stem: str) -> float:
            for suffix in (".mp4", ".avi", ".mkv", ".mov"):
                if (videos / f"{stem}{suffix}").is_file():
                    fps_cache[stem] = video_info(videos / f"{stem}{suffix}")
                    return fps_cache[stem][0]
            raise AnnotationError(f"{path}: no video {stem}.* in {videos} for its frame numbers")

        ann = load_annotation(path, fps_of, aliases)
        video = find_video(videos, ann)
        _, duration = video_info(video)
        src = source_for(cfg, ann, video)
        if detections is not None:
            detect = ReplayDetections(detections / f"{ann.name}.detections.json").detect
        else:
            if detector is None:
                from streetsight.runtime import load_detector

                detector = load_detector(cfg)
            detect = model_detect(detector)
        log.info("eval: %s with source %s", video.name, src.id)
        run = run_video(src, cfg, detect, out / "evidence", ann.name)
        results.append((ann, match_video(ann.name, run.incidents, ann.events, duration)))
    return results


def evaluate(cfg: Config, annotations: Path, videos: Path, out: Path, detections: Path | None = None,
             config_name: str = "") -> dict:
    """Returns the report's data (also written to ``out``: report.json, report.md, PNG plots)."""
    results = [r for _, r in run_annotated(cfg, annotations, videos, out, detections)]
    scores = score(results, [t for t in event_types.names()
                             if any(e.type == t for r in results for e in [m.event for m in r.matches] + r.missed)
                             or any(i.type == t for r in results for i in r.false_positives)])
    meta = {"config": config_name, "annotations": str(annotations), "videos": str(videos),
            "detector": f"replayed from {detections}" if detections else f"model {cfg.model.name}"}
    return write_report(out, scores, results, meta, plate_accuracy(results))


def default_out() -> Path:
    return Path(tempfile.mkdtemp(prefix="streetsight-eval-"))
