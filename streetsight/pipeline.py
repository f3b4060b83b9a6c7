"""Assembles the pipeline: source -> batched detection -> tracker -> rules -> recorder.

`analyze_source` runs one recorded file as fast as possible (media time only); `LivePipeline` runs many
sources at once: a reader thread per source, one inference loop that batches frames of many sources into
one model call (see `LivePipeline`).
"""
from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

import supervision as sv

from detectors.context import FrameContext
from detectors.geo import Merger
from detectors.incidents import Incident, IncidentEvent
from detectors.progress import Candidate
from detectors.rule import Rule
from models.detector import PreparedInput
from streams.frames import Frame
from streams.health import SourceState
from streams.hwdecode import shared as shared_hwdecode
from streams.live import ReaderThread
from streams.packets import PacketRing
from streams.positions import PositionBoard
from streams.reader import SourceReader
from streetsight.config import Config, SourceConfig
from streetsight.latest_frames import LatestFrames
from streetsight.pipeline_metrics import PipelineMetrics
from streetsight.recorder import IncidentRecorder
from streetsight.shadow import ShadowRunner
from vision.batching import BatchQueue, SplitDetector
from vision.detection import FrameDetector
from vision.model_router import ModelRouter
from vision.tracking import Tracker

log = logging.getLogger(__name__)


def build_rules(src: SourceConfig, cfg: Config, merger: Merger | None = None) -> list[Rule]:
    """Every configured rule of the source (see streetsight/rules.py)."""
    from streetsight.rules import build_rules as _build_rules

    return _build_rules(src, cfg, merger)


def make_ring(cfg: Config) -> PacketRing:
    return PacketRing(max_seconds=cfg.evidence.buffer_s, max_bytes=int(cfg.evidence.buffer_mb * 1024 * 1024))


def make_reader(src: SourceConfig, cfg: Config, ring: PacketRing, realtime_default: bool) -> SourceReader:
    realtime = src.realtime if src.realtime is not None else realtime_default
    st = cfg.streams
    return SourceReader(src.id, src.url, analysis_fps=src.analysis_fps, decode=src.decode, realtime=realtime,
                        ring=ring, open_timeout_s=st.open_timeout_s, read_timeout_s=st.read_timeout_s,
                        backoff_initial_s=st.backoff_initial_s, backoff_max_s=st.backoff_max_s,
                        decode_threads=st.decode_threads, read_batch_s=st.read_batch_s,
                        hwdecode=shared_hwdecode(st.hwaccel, st.hwaccel_device) if st.hwaccel else None)


@dataclass
class SourceAnalysis:
    """Everything per source that sits after detection: tracker, rules, evidence ring."""

    source: SourceConfig
    rules: list[Rule]
    tracker: Tracker
    ring: PacketRing
    frames_analysed: int = 0
    events: list[IncidentEvent] = field(default_factory=list)
    timezone: str = "Asia/Shanghai"  # for rules' allowed_hours
    listener: Callable[[IncidentEvent], None] | None = None  # sees every event after the recorder
    failure: str | None = None  # analyze_source: why the source could not be read (to its end)

    @classmethod
    def create(cls, src: SourceConfig, cfg: Config, merger: Merger | None = None) -> "SourceAnalysis":
        return cls(src, build_rules(src, cfg, merger), Tracker(src.analysis_fps), make_ring(cfg),
                   timezone=cfg.timezone)

    def frame_context(self, frame: Frame) -> FrameContext:
        """What rules see besides detections: the decoded image (no extra decoding), the local time
        (``media_start`` + media time when the source sets it, as recorded files do; else the frame's receive
        time), a moving camera's position."""
        tz = ZoneInfo(self.timezone)
        local = None
        if self.source.media_start is not None:
            start = self.source.media_start
            start = start.replace(tzinfo=tz) if start.tzinfo is None else start
            local = (start + timedelta(seconds=frame.time_s)).astimezone(tz)
        elif frame.wall_time is not None:
            local = datetime.fromtimestamp(frame.wall_time, tz)
        return FrameContext(frame.time_s, frame.width, frame.height, image=frame.image, local_time=local,
                            position=frame.extras.get("position"), index=self.frames_analysed)

    def handle(self, frame: Frame, detections: sv.Detections, recorder: IncidentRecorder) -> None:
        tracked = self.tracker.update(detections)
        self.frames_analysed += 1
        context = self.frame_context(frame)
        context.detections = detections
        for rule in self.rules:
            for event in rule.observe(context, tracked):
                self.events.append(event)
                recorder.handle(event, frame.image, self.ring)
                if self.listener is not None:
                    self.listener(event)
        recorder.poll(self.source.id, self.ring)
        recorder.seen(self.open_incidents())

    def open_incidents(self) -> list[Incident]:
        return [inc for rule in self.rules for inc in rule.open_incidents]

    def in_progress(self) -> list[Candidate]:
        """Every rule's candidates with their dwell (or hits) so far, for the zone editor's preview."""
        return [c for rule in self.rules for c in rule.in_progress()]

    def adopt(self, incident: Incident, seen_ago_s: float = 0.0) -> bool:
        """Continue an incident an earlier owner of this source opened (see `DwellRule.adopt`)."""
        return any(getattr(rule, "adopt", None) and rule.adopt(incident, seen_ago_s) for rule in self.rules)

    def remember(self, incident: Incident, ended_ago_s: float) -> bool:
        """Keep the cooldown of an incident another worker ended here (see `DwellRule.remember`)."""
        return any(getattr(rule, "remember", None) and rule.remember(incident, ended_ago_s) for rule in self.rules)

    def release(self, recorder: IncidentRecorder) -> None:
        """The source moves to another worker: write pending clips with the post-roll there is and leave
        open incidents open (the next owner continues them), with their last sighting recorded."""
        recorder.flush(self.source.id, self.ring)
        still_open = self.open_incidents()
        recorder.seen(still_open, force=True)
        recorder.forget(still_open)  # this process no longer follows them

    def run(self, reader: SourceReader, detect: Callable[[list[Frame]], list[sv.Detections]],
            recorder: IncidentRecorder, batch: int = 4, shadow: ShadowRunner | None = None) -> None:
        """Analyse a reader's frames to its end, detecting in small batches, then finish. ``shadow``: a
        candidate model that sees the same frames after the serving one."""
        pending: list[Frame] = []

        def run_batch() -> None:
            t0 = time.perf_counter()
            detections = detect(pending)
            ms = (time.perf_counter() - t0) * 1000 / len(pending)
            for frame, dets in zip(pending, detections):
                self.handle(frame, dets, recorder)
                if shadow is not None:
                    shadow.observe(frame, self, ms)
            pending.clear()

        for frame in reader.frames():
            pending.append(frame)
            if len(pending) >= batch:
                run_batch()
        if pending:
            run_batch()
        self.finish(recorder)
        if shadow is not None:
            shadow.finish(self.source.id)

    def finish(self, recorder: IncidentRecorder) -> None:
        for rule in self.rules:
            for event in rule.finish():
                self.events.append(event)
                recorder.handle(event, None, None)  # type: ignore[arg-type]  # "ended" needs no image
                if self.listener is not None:
                    self.listener(event)
        recorder.flush(self.source.id, self.ring)


def analyze_source(src: SourceConfig, cfg: Config, detector: FrameDetector, recorder: IncidentRecorder,
                   batch: int = 4, shadow: ShadowRunner | None = None) -> SourceAnalysis:
    """Run one source to its end as fast as possible. Frames are detected in small batches."""
    analysis = SourceAnalysis.create(src, cfg)
    reader = make_reader(src, cfg, analysis.ring, realtime_default=False)
    analysis.run(reader, lambda frames: detector.detect([f.image for f in frames]), recorder, batch, shadow)
    if reader.health.state is SourceState.FAILED:
        analysis.failure = reader.health.last_error or "failed"
    return analysis


Prepared = tuple[SplitDetector, PreparedInput]  # a frame's input and the model it was prepared for


def detect_by_model(items: Sequence[Prepared]) -> list[sv.Detections]:
    """One model call per model in the batch (cameras may be served by different models)."""
    out: list[sv.Detections | None] = [None] * len(items)
    groups: dict[int, list[int]] = {}
    for i, (split, _) in enumerate(items):
        groups.setdefault(id(split), []).append(i)
    for indices in groups.values():
        split = items[indices[0]][0]
        for i, dets in zip(indices, split.detect([items[i][1] for i in indices])):
            out[i] = dets
    return out  # type: ignore[return-value]


class LivePipeline:
    """Many live sources, one batched inference loop; stops when `stop()` is called or all sources end.

    Each source has a reader thread (demux every packet into its ring, decode only the frames analysis
    wants, pre-process them for the model) that puts frames into one `BatchQueue`; the loop in `run()`
    takes up to `max_batch` frames of different sources per model call. When inference falls behind,
    each source's oldest queued frame is dropped and counted (`dropped_frames`), so memory stays bounded
    and analysis stays current.
    Frames of `enforcement` sources carry `extras["position"]`, the report nearest in time.

    Sources can be added and removed while it runs (`add_source`, `remove_source`): a scale-out worker
    starts with none (``start_sources=False``) and keeps running (``keep_running=True``) while leases
    give it cameras and take them away. ``event_listener`` sees every incident event after the recorder.
    ``merger``: where moving cameras' findings meet (default: one `GeoMerger` per configuration; a
    scale-out worker passes a `RedisGeoMerger` so devices read by different workers merge too).
    """

    def __init__(self, cfg: Config, detector: FrameDetector, recorder: IncidentRecorder,
                 max_batch: int | None = None, realtime_files: bool = True, *, start_sources: bool = True,
                 keep_running: bool = False,
                 event_listener: Callable[[IncidentEvent], None] | None = None,
                 merger: Merger | None = None, shadow: ShadowRunner | None = None) -> None:
        self.cfg = cfg
        self.shadow = shadow  # a candidate model in shadow mode (model.shadow), after the serving one
        self.merger = merger
        self.detector = detector
        self.recorder = recorder
        self.max_batch = max_batch or cfg.model.max_batch
        self.linger_s = cfg.model.batch_linger_ms / 1000.0
        self.realtime_files = realtime_files
        self.keep_running = keep_running
        self.event_listener = event_listener
        self.analyses: dict[str, SourceAnalysis] = {}
        self.sources: dict[str, ReaderThread] = {}
        self.readers: dict[str, SourceReader] = {}
        self.split = SplitDetector(detector)  # pre-processing in the readers' threads, the model call here
        self.models = ModelRouter(self.split)  # per-camera model, switched at run time (models promote)
        self._configured_models: dict[str, SplitDetector] = {cfg.model.name: self.split}
        self.queue: BatchQueue[str, tuple[Frame, Prepared]] = BatchQueue(cfg.streams.queue_frames,
                                                                         on_drop=self._dropped)
        enabled = [src for src in cfg.sources if src.enabled]
        self.positions = PositionBoard(
            moving=[s.id for s in enabled if s.kind == "enforcement"],
            fixed=[s.id for s in enabled if s.kind != "enforcement"],
            max_skew_s=cfg.streams.position_max_skew_s,
        )
        self.metrics = PipelineMetrics(self.health)
        self.latest = LatestFrames()  # latest analysed frame per source: snapshots, zone editor, previews
        self._stop = threading.Event()
        self._leave_open = False  # see stop()
        self._lock = threading.RLock()  # guards the three source dicts against add/remove from other threads
        self._running = False
        self._ended: set[str] = set()  # readers that returned (files at their end, or stopped)
        self._finished: set[str] = set()  # sources whose analysis is finished (open incidents closed)
        self._ended_lock = threading.Lock()
        self._finish_requests: queue.Queue[tuple[str, SourceAnalysis, bool, threading.Event]] = queue.Queue()
        if start_sources:
            for src in enabled:
                self._create(src)

    def health(self) -> list[dict]:
        out = []
        with self._lock:
            items = [(sid, reader, self.analyses[sid]) for sid, reader in self.readers.items()]
        for sid, reader, analysis in items:
            h = reader.health.as_dict()
            h.update(id=sid, frames_analysed=analysis.frames_analysed, kind=analysis.source.kind)
            out.append(h)
        return out

    def report_position(self, source_id: str, lng: float, lat: float, timestamp: float) -> dict:
        """The API's ``position_sink``: raises LookupError (unknown source) or ValueError (fixed camera)."""
        return self.positions.report(source_id, lng, lat, timestamp).as_dict()

    # --- sources at run time (scale-out leases) ---------------------------------------------------

    def add_source(self, src: SourceConfig, inherited: Sequence[Incident | tuple[Incident, float]] = (),
                   recent: Sequence[tuple[Incident, float]] = ()) -> None:
        """Start reading ``src`` now; ``inherited``: incidents an earlier owner (another worker, or this
        service before a restart) left open on it, each alone or with the wall seconds since it was last
        seen (continued, never opened twice); ``recent``: (incident, seconds since it ended) ended on it
        (their spots stay in cooldown)."""
        with self._lock:
            if src.id in self.sources:
                return
            self.positions.register(src.id, moving=src.kind == "enforcement")
            thread = self._create(src)
            for item in inherited:
                incident, seen_ago_s = item if isinstance(item, tuple) else (item, 0.0)
                if not self.analyses[src.id].adopt(incident, seen_ago_s):
                    log.warning("source %s: no rule continues handed-over incident %s (%s, zone %s)",
                                src.id, incident.id, incident.type, incident.zone_id)
            for incident, ended_ago_s in recent:
                self.analyses[src.id].remember(incident, ended_ago_s)
            with self._ended_lock:
                self._ended.discard(src.id)
                self._finished.discard(src.id)
            if self._running:
                thread.start()

    def remove_source(self, source_id: str, handover: bool = False, timeout_s: float | None = None) -> bool:
        """Stop reading ``source_id`` (returns once its reader thread has ended, or after ``timeout_s``), then
        finish its analysis in the inference loop: pending clips are written with the post-roll there is;
        open incidents end, unless ``handover`` (another worker continues them). False if unknown."""
        with self._lock:
            thread = self.sources.pop(source_id, None)
            if thread is None:
                return False
            self.readers.pop(source_id, None)
            analysis = self.analyses.pop(source_id)
        st = self.cfg.streams
        thread.stop(timeout_s if timeout_s is not None else st.open_timeout_s + st.read_timeout_s + 1)
        if thread.alive:
            log.warning("source %s: reader thread still blocked after stop; it ends within its read timeout",
                        source_id)
        self.queue.discard(source_id)
        self.latest.forget(source_id)
        done = threading.Event()
        self._finish_requests.put((source_id, analysis, handover, done))
        if not self._running:
            self._process_finish_requests()
        return True

    def open_incidents(self, source_id: str) -> list[Incident]:
        with self._lock:
            analysis = self.analyses.get(source_id)
        return [] if analysis is None else analysis.open_incidents()

    def stop(self, leave_open: bool = False) -> None:
        """Stop analysing. Sources still reading end their open incidents, unless ``leave_open``: a service
        stopping for a restart writes pending clips and leaves them open for the next start to continue."""
        self._leave_open = leave_open
        self._stop.set()
        self.queue.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        with self._lock:
            self._running = True
            for s in self.sources.values():
                s.start()
        try:
            while not self._stop.is_set() and (self.keep_running or self._unfinished()):
                batch = self.queue.take(self.max_batch, timeout=0.25, linger_s=self.linger_s)
                if batch:
                    self._analyse(batch)
                self._finish_ended()
                self._process_finish_requests()
                self.recorder.collect_previews()  # previews of quiet sources too
        finally:
            self.queue.close()
            with self._lock:
                self._running = False
                threads = dict(self.sources)
            for s in threads.values():
                s.reader.stop()  # all at once: each blocked read ends within its timeout
            patience = self.cfg.streams.open_timeout_s + self.cfg.streams.read_timeout_s + 5
            deadline = time.monotonic() + patience
            for s in threads.values():
                s.join(max(0.0, deadline - time.monotonic()))
            for sid in set(threads) - self._finished:
                self._finish(sid, leave_open=self._leave_open)
            self._process_finish_requests()
            self.recorder.collect_previews(wait_for="*")
            if self.shadow is not None:
                self.shadow.recorder.close()  # the candidate's incidents' previews too

    # --- internals ------------------------------------------------------------------------------

    def _configured_model(self, src: SourceConfig) -> None:
        """The camera's own model (its source entry's ``model``); promotions for the camera override it."""
        if not src.model or src.model == self.cfg.model.name:
            self.models.configure(src.id, None)
            return
        if src.model not in self._configured_models:
            from streetsight.runtime import load_detector

            model = self.cfg.model.model_copy(update={"name": src.model})
            self._configured_models[src.model] = SplitDetector(load_detector(self.cfg.model_copy(update={"model": model})))
        self.models.configure(src.id, self._configured_models[src.model])

    def _create(self, src: SourceConfig) -> ReaderThread:
        self._configured_model(src)
        analysis = SourceAnalysis.create(src, self.cfg, self.merger)
        analysis.listener = self.event_listener
        reader = make_reader(src, self.cfg, analysis.ring, realtime_default=self.realtime_files)
        thread = ReaderThread(reader, functools.partial(self._arrived, src.id),
                              on_done=functools.partial(self._reader_ended, src.id))
        self.analyses[src.id] = analysis
        self.readers[src.id] = reader
        self.sources[src.id] = thread
        return thread

    def _unfinished(self) -> bool:
        with self._lock:
            return bool(set(self.sources) - self._finished)

    def _arrived(self, source_id: str, frame: Frame) -> None:
        """In the source's reader thread: pre-process for the model, then queue for the next batch."""
        try:
            split = self.models.for_source(source_id)
            prepared = (split, split.prepare(frame.image))
        except Exception:  # a frame the model cannot take is skipped; the source goes on
            log.exception("source %s: pre-processing frame %d failed; skipped", source_id, frame.index)
            return
        self.queue.put(source_id, (frame, prepared))

    def _analyse(self, batch: list[tuple[str, tuple[Frame, PreparedInput]]]) -> None:
        t0 = time.perf_counter()
        try:
            detections = detect_by_model([prepared for _, (_, prepared) in batch])
        except Exception:  # a failing model call must not stop the worker: count it, drop the batch
            self.metrics.inference_errors.inc()
            log.exception("inference failed on a batch of %d frames; dropped", len(batch))
            return
        took_s = time.perf_counter() - t0
        self.metrics.observe_batch(len(batch), took_s)
        for (sid, (frame, _)), dets in zip(batch, detections):
            with self._lock:
                analysis = self.analyses.get(sid)
            if analysis is None:  # removed while its frame waited for the model
                continue
            if self.positions.is_moving(sid):
                position = self.positions.nearest(sid, frame.wall_time or time.time())
                if position is not None:
                    frame.extras["position"] = position.as_dict()
            try:
                analysis.handle(frame, dets, self.recorder)
            except Exception:  # one source's rules or evidence failing must not stop the others
                log.exception("source %s: analysis of frame %d failed", sid, frame.index)
            if self.shadow is not None:
                try:
                    self.shadow.observe(frame, analysis, took_s * 1000 / len(batch))
                except Exception:  # the candidate failing must never touch the serving analysis
                    log.exception("source %s: shadow model on frame %d failed", sid, frame.index)
            self.latest.put(sid, frame.image, dets, frame.time_s, frame.wall_time,
                            extras={"candidates": analysis.in_progress()})
            if frame.wall_time is not None:
                self.metrics.observe_latency(time.time() - frame.wall_time)

    def _dropped(self, source_id: str, item: tuple[Frame, Prepared]) -> None:
        reader = self.readers.get(source_id)
        if reader is not None:
            reader.health.on_dropped()

    def _reader_ended(self, source_id: str) -> None:
        with self._ended_lock:
            self._ended.add(source_id)

    def _finish_ended(self) -> None:
        with self._ended_lock:
            ended = self._ended - self._finished
        for sid in ended:
            with self._lock:
                known = sid in self.sources
            if known and not self.queue.has_pending(sid):  # its last frames have been analysed
                self._finish(sid)

    def _finish(self, source_id: str, leave_open: bool = False) -> None:
        with self._lock:
            analysis = self.analyses.get(source_id)
        with self._ended_lock:
            self._finished.add(source_id)
        if analysis is None:
            return
        try:
            if leave_open:
                analysis.release(self.recorder)
            else:
                analysis.finish(self.recorder)
            if self.shadow is not None:
                self.shadow.finish(source_id)
        except Exception:
            log.exception("source %s: finishing its analysis failed", source_id)

    def _process_finish_requests(self) -> None:
        """Sources removed at run time are finished here, in the inference thread, like the others."""
        while True:
            try:
                sid, analysis, handover, done = self._finish_requests.get_nowait()
            except queue.Empty:
                return
            try:
                if handover:
                    analysis.release(self.recorder)
                else:
                    analysis.finish(self.recorder)
                if self.shadow is not None:
                    self.shadow.finish(sid)
            except Exception:
                log.exception("source %s: finishing its analysis failed", sid)
            finally:
                done.set()
