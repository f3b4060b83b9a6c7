"""Shadow mode: a candidate model runs beside the serving one on the same frames, within a budget.

Its would-be incidents go through the same rules and evidence path but are recorded with status ``shadow``
(never in the review queue, never a case). Those that no serving incident overlaps are the candidate's own
extra findings: a share of them (``review_share``) is recorded as ``shadow_queue``, the review queue marked
shadow, so the candidate's precision is measured there too (api/model_compare.py).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import supervision as sv

from api.repository import IncidentRepository
from api.schemas import IncidentCreate, IncidentOut
from streams.frames import Frame
from streetsight.config import Config, ShadowConfig
from streetsight.recorder import IncidentRecorder
from streetsight.shadow_records import ShadowTagger, record_shadow, sampled, unqueue_twins  # noqa: F401 - sampled
from vision.tracking import Tracker

STATS_FILE = "shadow-stats.json"


class ShadowIncidents:
    """The repository as a candidate's rules see it: what they add is tagged with the model, kept out of the
    review queue, and sampled into the shadow queue when the serving model has no such incident."""

    def __init__(self, repository: IncidentRepository, model: str, review_share: float) -> None:
        self._repository = repository
        self.model = model
        self.review_share = review_share
        repository.on_added(self._serving_added)

    def __getattr__(self, name: str) -> Any:  # evidence, ends, sightings: as for any incident
        return getattr(self._repository, name)

    def add(self, incident: IncidentCreate, status: str = "shadow") -> IncidentOut:
        return record_shadow(self._repository, incident, self.model, self.review_share)

    def _serving_added(self, incident: IncidentOut) -> None:
        """The serving model found it too (perhaps after the candidate): its decision judges both."""
        unqueue_twins(self._repository, incident, self.model)


class Budget:
    """Frames and model milliseconds per wall second the candidate may spend (token buckets, one second deep)."""

    def __init__(self, frames_per_s: float | None, ms_per_s: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.frames_per_s, self.ms_per_s, self.clock = frames_per_s, ms_per_s, clock
        self._frames = frames_per_s or 0.0
        self._ms = ms_per_s or 0.0
        self._at = clock()

    def allow(self) -> bool:
        now = self.clock()
        dt, self._at = now - self._at, now
        if self.frames_per_s:
            self._frames = min(max(self.frames_per_s, 1.0), self._frames + dt * self.frames_per_s)
        if self.ms_per_s:
            self._ms = min(self.ms_per_s, self._ms + dt * self.ms_per_s)
        return (not self.frames_per_s or self._frames >= 1.0) and (not self.ms_per_s or self._ms > 0.0)

    def spend(self, ms: float) -> None:
        self._frames -= 1.0
        self._ms -= ms


@dataclass
class ModelCost:
    frames: int = 0
    ms: float = 0.0

    def as_dict(self) -> dict[str, float | int | None]:
        return {"frames": self.frames, "ms_per_frame": round(self.ms / self.frames, 2) if self.frames else None}


class ShadowRunner:
    """Runs ``detect`` (the candidate) on the frames the shadow settings choose, after the serving model."""

    def __init__(self, settings: ShadowConfig, cfg: Config, detect: Callable[[list[Any]], list[sv.Detections]],
                 recorder: IncidentRecorder, stats_path: Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings, self.cfg, self.detect, self.recorder = settings, cfg, detect, recorder
        self.clock = clock
        self.budget = Budget(settings.max_frames_per_s, settings.max_ms_per_s, clock)
        self.camera_budgets: dict[str, Budget] = {}  # each camera's own share of it (camera_max_*)
        self.over_budget_by_camera: dict[str, int] = {}
        self.stats_path = stats_path
        self.analyses: dict[str, Any] = {}  # source id -> its shadow SourceAnalysis
        self._seen: dict[str, int] = {}
        self.candidate, self.serving = ModelCost(), ModelCost()
        self.over_budget = 0
        self._lock = threading.Lock()
        self._written = 0.0

    def wants(self, source_id: str) -> bool:
        """This camera's next frame: on a chosen camera and in the share (evenly spread)."""
        s = self.settings
        if s.cameras and source_id not in s.cameras:
            return False
        n = self._seen.get(source_id, 0)
        self._seen[source_id] = n + 1
        return int((n + 1) * s.share) > int(n * s.share)

    def observe(self, frame: Frame, serving: Any, serving_ms: float) -> None:
        """After the serving model analysed ``frame`` (``serving``: its SourceAnalysis)."""
        sid = serving.source.id
        self.serving.frames += 1
        self.serving.ms += serving_ms
        if not self.admit(sid):
            return
        t0 = time.perf_counter()
        detections = self.detect([frame.image])[0]
        ms = (time.perf_counter() - t0) * 1000
        self.spend(sid, ms)
        self.candidate.frames += 1
        self.candidate.ms += ms
        self._analysis(serving).handle(frame, detections, self.recorder)
        self._write_stats()

    def admit(self, source_id: str) -> bool:
        """Whether the candidate runs on this camera's next frame: chosen (camera, share), and within both the
        shared budget and the camera's own (so one busy camera cannot take the whole budget)."""
        if not self.wants(source_id):
            return False
        mine = self._camera_budget(source_id)
        shared_ok, own_ok = self.budget.allow(), mine is None or mine.allow()  # both refill, whatever the other says
        if shared_ok and own_ok:
            return True
        self.over_budget += 1
        self.over_budget_by_camera[source_id] = self.over_budget_by_camera.get(source_id, 0) + 1
        return False

    def spend(self, source_id: str, ms: float) -> None:
        self.budget.spend(ms)
        mine = self._camera_budget(source_id)
        if mine is not None:
            mine.spend(ms)

    def _camera_budget(self, source_id: str) -> Budget | None:
        s = self.settings
        if not (s.camera_max_frames_per_s or s.camera_max_ms_per_s):
            return None
        if source_id not in self.camera_budgets:
            self.camera_budgets[source_id] = Budget(s.camera_max_frames_per_s, s.camera_max_ms_per_s, self.clock)
        return self.camera_budgets[source_id]

    def finish(self, source_id: str) -> None:
        analysis = self.analyses.pop(source_id, None)
        if analysis is not None:
            analysis.finish(self.recorder)
        self._write_stats(force=True)

    def stats(self) -> dict[str, Any]:
        return {"candidate": self.settings.model, "candidate_cost": self.candidate.as_dict(),
                "serving_cost": self.serving.as_dict(), "over_budget": self.over_budget,
                "over_budget_by_camera": dict(self.over_budget_by_camera),
                "share": self.settings.share, "cameras": self.settings.cameras}

    def _analysis(self, serving: Any) -> Any:
        from streetsight.pipeline import SourceAnalysis, build_rules

        sid = serving.source.id
        if sid not in self.analyses:  # its own rules and tracker; the camera's packets (clips) are shared
            fps = serving.source.analysis_fps * self.settings.share
            self.analyses[sid] = SourceAnalysis(serving.source, build_rules(serving.source, self.cfg),
                                                Tracker(fps), serving.ring, timezone=self.cfg.timezone)
        return self.analyses[sid]

    def _write_stats(self, force: bool = False) -> None:
        if self.stats_path is None or (not force and time.monotonic() - self._written < 5.0):
            return
        self._written = time.monotonic()
        self.stats_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.stats(), indent=2), encoding="utf-8")
        tmp.replace(self.stats_path)


def read_stats(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


def build_shadow(cfg: Config, repository: IncidentRepository | None, recorder: IncidentRecorder,
                 bus: Any = None) -> ShadowRunner | None:
    """The configured shadow candidate (model.shadow), or None. Its incidents' evidence goes where the
    serving model's does; its costs to ``<data_dir>/shadow-stats.json``. On a cluster worker (``bus``: its event
    publisher, no ``repository``) the incidents go on the bus tagged with the model; the API records them."""
    settings = cfg.model.shadow
    if settings is None:
        return None
    from streetsight.runtime import load_detector

    model = cfg.model.model_copy(update={"name": settings.model, "shadow": None})
    detector = load_detector(cfg.model_copy(update={"model": model}))
    sink = ShadowTagger(bus, settings.model, settings.review_share) if bus is not None else \
        ShadowIncidents(repository, settings.model, settings.review_share)  # type: ignore[arg-type]
    shadow_recorder = IncidentRecorder(recorder.store, sink,  # type: ignore[arg-type]
                                       recorder.cfg, keep_recorded=recorder.keep_recorded,
                                       wall_clock=recorder.wall_clock)
    return ShadowRunner(settings, cfg, lambda images: detector.detect(images), shadow_recorder,
                        stats_path=stats_path(cfg))


def enter_shadow(pipeline: Any, cfg: Config, repository: IncidentRepository | None, recorder: IncidentRecorder,
                 model: str, bus: Any = None) -> ShadowRunner:
    """Put ``model`` in shadow mode in a running pipeline (a model retrained from the UI; ``bus``: a cluster
    worker's event publisher, as for `build_shadow`): with the configured
    shadow settings (cameras, share, budget) when there are some, else on every frame of every camera. The
    previous candidate stops; its open would-be incidents are finished."""
    settings = cfg.model.shadow.model_copy(update={"model": model}) if cfg.model.shadow else ShadowConfig(model=model)
    runner = build_shadow(cfg.model_copy(update={"model": cfg.model.model_copy(update={"shadow": settings})}),
                          repository, recorder, bus)
    assert runner is not None
    previous, pipeline.shadow = pipeline.shadow, runner  # the pipeline reads its shadow anew on every frame
    if previous is not None:
        for source_id in list(previous.analyses):
            previous.finish(source_id)
        previous.recorder.close()  # its incidents' previews are stored before it goes
    return runner


def stats_path(cfg: Config) -> Path:
    return Path(cfg.storage.data_dir) / STATS_FILE
