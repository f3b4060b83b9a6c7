"""Which model serves each camera, switchable while the pipeline runs (promotion and rollback, no restart).

The pipeline asks ``for_source`` once per frame, in the reader's thread, and keeps the detector it got with
the prepared input: a frame prepared for one model is always run by that model, even if a switch lands
between pre-processing and the batch (an input sized for one network never reaches another).
"""
from __future__ import annotations

import threading
from collections.abc import Mapping

from vision.batching import SplitDetector


class ModelRouter:
    def __init__(self, default: SplitDetector) -> None:
        self._lock = threading.Lock()
        self._default = default
        self._cameras: dict[str, SplitDetector] = {}
        self._configured: dict[str, SplitDetector] = {}  # the cameras' own models from their source entries

    def for_source(self, source_id: str) -> SplitDetector:
        """A promotion for the camera, else the camera's configured model, else the model everywhere."""
        with self._lock:
            return self._cameras.get(source_id) or self._configured.get(source_id, self._default)

    def configure(self, source_id: str, detector: SplitDetector | None) -> None:
        """The camera's own model (None: the model everywhere), below any promotion for it."""
        with self._lock:
            if detector is None:
                self._configured.pop(source_id, None)
            else:
                self._configured[source_id] = detector

    def switch(self, default: SplitDetector, cameras: Mapping[str, SplitDetector]) -> None:
        """Serve every camera with `default` except those named in `cameras`, from the next frame on."""
        with self._lock:
            self._default, self._cameras = default, dict(cameras)

    def serving(self) -> dict[str, object]:
        """Model names in service: {"default": name, "cameras": {camera: name}}."""
        with self._lock:
            cameras = {**self._configured, **self._cameras}
            return {"default": self._default.detector.manifest.name,
                    "cameras": {cam: d.detector.manifest.name for cam, d in cameras.items()}}
