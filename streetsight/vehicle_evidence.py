"""The vehicle's close-up and plate read of an incident, made once at confirmation on the analysis thread.

The OCR models load on the first vehicle (about 0.5 s), not at start-up: a camera without parking zones never
pays for them. A read that fits no plate format or is below the confidence threshold is kept, marked uncertain.
"""
from __future__ import annotations

import logging
import threading

import numpy as np

from evidence.snapshot import crop_box
from streetsight.config import VehicleEvidenceConfig
from vision.plates import PlateRead, PlateReader

log = logging.getLogger(__name__)


class VehicleEvidence:
    def __init__(self, cfg: VehicleEvidenceConfig) -> None:
        self.cfg = cfg
        self._reader: PlateReader | None = None
        self._lock = threading.Lock()

    def applies(self, class_name: str) -> bool:
        return class_name in self.cfg.classes

    def crop(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        return crop_box(image, box, self.cfg.crop_margin)

    def read_plate(self, crop: np.ndarray) -> PlateRead | None:
        if not self.cfg.plates:
            return None
        with self._lock:  # one OCR session pair, used by one caller at a time
            if self._reader is None:
                from models.ocr import TextOcr

                self._reader = PlateReader(TextOcr(threads=self.cfg.threads), self.cfg.plate_min_confidence)
            return self._reader.read(crop)
