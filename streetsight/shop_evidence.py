"""The shop responsible for a shop-front incident (门前三包), found once at confirmation on the analysis thread.

A zone that names its shop has put ``extra.shop`` on the incident already (source "zone"); otherwise the sign
above the zone is read (source "sign"). The OCR models load on the first such incident, not at start-up.
"""
from __future__ import annotations

import logging
import threading

import numpy as np

from detectors.incidents import Incident
from streetsight.config import ShopEvidenceConfig
from streetsight.event_types import SHOP_FRONT_TYPES
from vision.shop_signs import SignReader

log = logging.getLogger(__name__)


class ShopEvidence:
    def __init__(self, cfg: ShopEvidenceConfig) -> None:
        self.cfg = cfg
        self._reader: SignReader | None = None
        self._lock = threading.Lock()

    def attach(self, inc: Incident, image: np.ndarray) -> None:
        """Put the shop into ``inc.extra["shop"]`` when the zone named none and a sign can be read."""
        if inc.type not in SHOP_FRONT_TYPES or inc.extra.get("shop") or not self.cfg.read_signs:
            return
        try:
            with self._lock:  # one OCR session pair, used by one caller at a time
                if self._reader is None:
                    from models.ocr import TextOcr

                    self._reader = SignReader(TextOcr(threads=self.cfg.threads), self.cfg.min_confidence)
                read = self._reader.read(image, inc.zone_polygon, self.cfg.sign_band)
        except Exception as exc:  # the incident stands without its shop
            log.exception("incident %s: shop sign reading failed", inc.id)
            inc.extra["shop"] = {"name": None, "source": "sign", "confidence": None,
                                 "error": f"{type(exc).__name__}: {exc}"}
            return
        if read is not None:
            inc.extra["shop"] = read.as_dict()
