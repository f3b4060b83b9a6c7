"""Wiring: a running pipeline follows `streetsight models promote/rollback` without a restart."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streetsight.config import Config
from streetsight.model_assignments import STATE_FILE, AssignmentWatcher, Assignments, assignments_dir
from streetsight.pipeline import LivePipeline
from streetsight.runtime import load_detector
from vision.batching import SplitDetector


def watch_assignments(pipeline: LivePipeline, cfg: Config, directory: Path | None = None,
                      interval_s: float = 1.0, enter_shadow: Callable[[str], object] | None = None) -> AssignmentWatcher:
    """Start polling the assignments; each change loads the models it names (with the configured providers,
    threads and thresholds) and switches the pipeline's cameras to them from their next frame. A candidate set
    for shadow mode (a retrained model) is handed to ``enter_shadow`` when it changes."""
    loaded: dict[str, SplitDetector] = {cfg.model.name: pipeline.split}

    def load(name: str) -> SplitDetector:
        if name not in loaded:
            model = cfg.model.model_copy(update={"name": name})
            loaded[name] = SplitDetector(load_detector(cfg.model_copy(update={"model": model})))
        return loaded[name]

    def apply(state: Assignments) -> None:
        default = load(state.default or cfg.model.name)  # all loads first: a missing model changes nothing
        cameras = {cam: load(name) for cam, name in state.cameras.items()}
        pipeline.models.switch(default, cameras)
        shadowing = pipeline.shadow.settings.model if pipeline.shadow is not None else None
        if enter_shadow is not None and state.shadow and state.shadow != shadowing:
            enter_shadow(state.shadow)
        in_use = {cfg.model.name, state.default, *state.cameras.values()}
        for name in [n for n in loaded if n not in in_use]:  # models no camera uses any more are let go
            del loaded[name]

    return AssignmentWatcher((directory or assignments_dir()) / STATE_FILE, apply, interval_s).start()
