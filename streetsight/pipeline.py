"""Assembles the pipeline: source -> batched detection -> tracker -> rules -> recorder.

`analyze_source` runs one recorded file as fast as possible (media time only); `LivePipeline` runs many
sources at once: a reader thread per source, one inference loop that batches the newest frame of every
source into a single model call.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import supervision as sv

from detectors.dwell import DwellParams, DwellRule
from detectors.incidents import IncidentEvent
from streams.frames import Frame
from streams.live import ThreadedSource
from streams.packets import PacketRing
from streams.reader import SourceReader
from streetsight.config import Config, SourceConfig
from streetsight.recorder import IncidentRecorder
from vision.detection import FrameDetector
from vision.tracking import Tracker
from vision.zones import Zone

log = logging.getLogger(__name__)


def build_rules(src: SourceConfig, cfg: Config) -> list[DwellRule]:
    zones = [Zone.from_points(z.id, z.events, z.polygon) for z in src.zones]
    p = cfg.rules.illegal_parking
    params = DwellParams(
        classes=tuple(p.classes), min_score=p.min_score, min_dwell_s=p.min_dwell_s,
        stationary_tolerance=p.stationary_tolerance, motion_window_s=p.motion_window_s,
        max_gap_s=p.max_gap_s, leave_after_s=p.leave_after_s, cooldown_s=p.cooldown_s,
    )
    rules = [DwellRule("illegal_parking", src.id, zones, params)]
    return [r for r in rules if r.zones]


def make_ring(cfg: Config) -> PacketRing:
    return PacketRing(max_seconds=cfg.evidence.buffer_s, max_bytes=int(cfg.evidence.buffer_mb * 1024 * 1024))


def make_reader(src: SourceConfig, cfg: Config, ring: PacketRing, realtime_default: bool) -> SourceReader:
    realtime = src.realtime if src.realtime is not None else realtime_default
    return SourceReader(src.id, src.url, analysis_fps=src.analysis_fps, decode=src.decode, realtime=realtime,
                        ring=ring)


@dataclass
class SourceAnalysis:
    """Everything per source that sits after detection: tracker, rules, evidence ring."""

    source: SourceConfig
    rules: list[DwellRule]
    tracker: Tracker
    ring: PacketRing
    frames_analysed: int = 0
    events: list[IncidentEvent] = field(default_factory=list)

    @classmethod
    def create(cls, src: SourceConfig, cfg: Config) -> "SourceAnalysis":
        return cls(src, build_rules(src, cfg), Tracker(src.analysis_fps), make_ring(cfg))

    def handle(self, frame: Frame, detections: sv.Detections, recorder: IncidentRecorder) -> None:
        tracked = self.tracker.update(detections)
        self.frames_analysed += 1
        for rule in self.rules:
            for event in rule.update(tracked, frame.time_s, frame.width, frame.height):
                self.events.append(event)
                recorder.handle(event, frame.image, self.ring)
        recorder.poll(self.source.id, self.ring)

    def finish(self, recorder: IncidentRecorder) -> None:
        for rule in self.rules:
            for event in rule.finish():
                self.events.append(event)
                recorder.handle(event, None, None)  # type: ignore[arg-type]  # "ended" needs no image
        recorder.flush(self.source.id, self.ring)


def analyze_source(src: SourceConfig, cfg: Config, detector: FrameDetector, recorder: IncidentRecorder,
                   batch: int = 4) -> SourceAnalysis:
    """Run one source to its end as fast as possible. Frames are detected in small batches."""
    analysis = SourceAnalysis.create(src, cfg)
    reader = make_reader(src, cfg, analysis.ring, realtime_default=False)
    pending: list[Frame] = []

    def run_batch() -> None:
        for frame, dets in zip(pending, detector.detect([f.image for f in pending])):
            analysis.handle(frame, dets, recorder)
        pending.clear()

    for frame in reader.frames():
        pending.append(frame)
        if len(pending) >= batch:
            run_batch()
    if pending:
        run_batch()
    analysis.finish(recorder)
    return analysis


class LivePipeline:
    """Many live sources, one batched inference loop; stops when `stop()` is called or all sources end."""

    def __init__(self, cfg: Config, detector: FrameDetector, recorder: IncidentRecorder,
                 max_batch: int = 8, realtime_files: bool = True) -> None:
        self.cfg = cfg
        self.detector = detector
        self.recorder = recorder
        self.max_batch = max_batch
        self.analyses: dict[str, SourceAnalysis] = {}
        self.sources: dict[str, ThreadedSource] = {}
        self.readers: dict[str, SourceReader] = {}
        self._stop = threading.Event()
        for src in cfg.sources:
            if not src.enabled:
                continue
            analysis = SourceAnalysis.create(src, cfg)
            reader = make_reader(src, cfg, analysis.ring, realtime_default=realtime_files)
            self.analyses[src.id] = analysis
            self.readers[src.id] = reader
            self.sources[src.id] = ThreadedSource(reader, start=False)

    def health(self) -> list[dict]:
        out = []
        for sid, reader in self.readers.items():
            h = reader.health.as_dict()
            h.update(id=sid, frames_analysed=self.analyses[sid].frames_analysed,
                     dropped_frames=self.sources[sid].dropped_frames,
                     kind=self.analyses[sid].source.kind)
            out.append(h)
        return out

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        for s in self.sources.values():
            s.start()
        finished: set[str] = set()
        try:
            while not self._stop.is_set() and len(finished) < len(self.sources):
                batch: list[tuple[str, Frame]] = []
                for sid, s in self.sources.items():
                    if sid in finished:
                        continue
                    frame = s.get(timeout=0)
                    if frame is not None:
                        batch.append((sid, frame))
                    elif s.done:
                        finished.add(sid)
                        self.analyses[sid].finish(self.recorder)
                    if len(batch) >= self.max_batch:
                        break
                if not batch:
                    time.sleep(0.01)
                    continue
                for (sid, frame), dets in zip(batch, self.detector.detect([f.image for _, f in batch])):
                    self.analyses[sid].handle(frame, dets, self.recorder)
        finally:
            for s in self.sources.values():
                s.stop()
            for sid in set(self.sources) - finished:
                self.analyses[sid].finish(self.recorder)
