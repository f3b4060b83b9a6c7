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

    def for_source(self, source_id: str) -> SplitDetector:
        with self._lock:
            return self._cameras.get(source_id, self._default)

    def switch(self, default: SplitDetector, cameras: Mapping[str, SplitDetector]) -> None:
        """Serve every camera with `default` except those named in `cameras`, from the next frame on."""
        with self._lock:
            self._default, self._cameras = default, dict(cameras)

    def serving(self) -> dict[str, object]:
        """Model names in service: {"default": name, "cameras": {camera: name}}."""
        with self._lock:
            return {"default": self._default.detector.manifest.name,
                    "cameras": {cam: d.detector.manifest.name for cam, d in self._cameras.items()}}
