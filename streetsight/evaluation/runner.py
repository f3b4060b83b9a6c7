"""Runs the real pipeline (reader -> detector -> `SourceAnalysis` -> recorder) over labelled videos.

Detections come from the configured model, or are replayed from ``<video>.detections.json`` files (what
another detector saw, or what a renderer drew) to evaluate the rules apart from the model.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import av
import numpy as np
import supervision as sv

from evidence.store import LocalEvidenceStore
from streams.frames import Frame
from streetsight.config import Config, ConfigError, SourceConfig
from streetsight.evaluation.annotations import AnnotationError, VideoAnnotation
from streetsight.evaluation.matching import FoundIncident
from streetsight.pipeline import SourceAnalysis, make_reader
from streetsight.recorder import IncidentRecorder
from vision.detection import FrameDetector

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".ts", ".flv")

DetectFn = Callable[[list[Frame]], list[sv.Detections]]


def find_video(videos: Path, ann: VideoAnnotation) -> Path:
    if ann.video and (videos / ann.video).is_file():
        return videos / ann.video
    for suffix in VIDEO_SUFFIXES:
        if (videos / f"{ann.name}{suffix}").is_file():
            return videos / f"{ann.name}{suffix}"
    raise AnnotationError(f"{ann.name}: no video {ann.video or ann.name + '.*'} in {videos}")


def video_info(path: Path) -> tuple[float, float]:
    """(frame rate, duration in seconds)."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps = float(s.average_rate or s.guessed_rate or 25)
        if s.duration is not None and s.time_base is not None:
            duration = float(s.duration * s.time_base)
        elif c.duration:
            duration = c.duration / 1_000_000
        else:
            duration = (s.frames or 0) / fps
    return fps, duration


def source_for(cfg: Config, ann: VideoAnnotation, video: Path) -> SourceConfig:
    """The source named by the annotation (or the video's name); otherwise the first source."""
    if not cfg.sources:
        raise ConfigError("sources: eval needs a source whose zones apply to the videos")
    wanted = ann.source or ann.name
    src = next((s for s in cfg.sources if s.id == wanted), cfg.sources[0])
    update: dict = {"url": str(video.resolve()), "realtime": False}
    if ann.media_start:
        update["media_start"] = datetime.fromisoformat(ann.media_start)
    return src.model_copy(update=update)


def model_detect(detector: FrameDetector) -> DetectFn:
    return lambda frames: detector.detect([f.image for f in frames])


class ReplayDetections:
    """Per-frame detections from ``{"frames": [{"t", "detections": [{"class", "score", "box"}]}]}``."""

    def __init__(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.times = np.array([float(f["t"]) for f in data["frames"]])
            self.frames = [f["detections"] for f in data["frames"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AnnotationError(f"{path}: not a detections file: {exc}") from None

    def at(self, t: float) -> sv.Detections:
        if not len(self.times):
            return sv.Detections.empty()
        k = int(np.argmin(np.abs(self.times - t)))
        dets = self.frames[k]
        if not dets:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=np.array([d["box"] for d in dets], dtype=np.float32).reshape(-1, 4),
            confidence=np.array([d["score"] for d in dets], dtype=np.float32),
            class_id=np.zeros(len(dets), dtype=int),
            data={"class_name": np.array([d["class"] for d in dets], dtype=object)},
        )

    def detect(self, frames: list[Frame]) -> list[sv.Detections]:
        return [self.at(f.time_s) for f in frames]


@dataclass
class VideoRun:
    incidents: list[FoundIncident]
    frames_analysed: int


def run_video(src: SourceConfig, cfg: Config, detect: DetectFn, evidence_dir: Path, video_name: str,
              batch: int = 4) -> VideoRun:
    """The same per-source analysis as `analyze` and `serve`, recording evidence under ``evidence_dir``."""
    recorder = IncidentRecorder(LocalEvidenceStore(evidence_dir), None, cfg.evidence)
    analysis = SourceAnalysis.create(src, cfg)
    analysis.run(make_reader(src, cfg, analysis.ring, realtime_default=False), detect, recorder, batch)
    found = []
    for event in analysis.events:
        if event.kind != "opened":
            continue
        inc = event.incident
        rec = recorder.recorded.get(inc.id)
        snap = rec.evidence.get("snapshot") if rec else None
        raw = rec.evidence.get("snapshot_raw") if rec else None
        vehicle = inc.extra.get("vehicle") or {}
        found.append(FoundIncident(video_name, inc.type, inc.started_at, inc.confirmed_at, inc.ended_at,
                                   tuple(inc.box), inc.id, inc.zone_id, inc.class_name, inc.score,
                                   str(evidence_dir / snap.key) if snap else None,
                                   str(evidence_dir / raw.key) if raw else None,
                                   vehicle.get("plate"), vehicle.get("plate_uncertain"), inc.extra.get("shop")))
    return VideoRun(found, analysis.frames_analysed)
