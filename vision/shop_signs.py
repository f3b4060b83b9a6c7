"""Shop signs: the text of the sign above a shop-front zone, read with PP-OCRv4, names the shop responsible for
that frontage (门前三包) when the zone's configuration does not.

The sign is looked for in a band above the zone (shops hang their signs over the door, the frontage lies in
front of it). The tallest text line there is the shop's name (signs letter the name large, and the phone number
or the trade small); a read below the confidence threshold is kept, marked uncertain.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from models.ocr import TextOcr

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class SignRead:
    name: str
    confidence: float
    uncertain: bool
    box: tuple[int, int, int, int]  # the band searched, pixels of the frame

    def as_dict(self) -> dict:
        return {"name": self.name, "source": "sign", "confidence": round(self.confidence, 4),
                "uncertain": self.uncertain}


def sign_band(polygon: Sequence[Sequence[float]], width: int, height: int,
              band: float) -> tuple[int, int, int, int] | None:
    """Pixels of the band above a zone (normalised polygon): as wide as the zone, ``band`` x its height."""
    pts = np.asarray(polygon, dtype=np.float64) * [width, height]
    x1, y1 = pts.min(axis=0)
    x2, y2 = pts.max(axis=0)
    top = max(0, int(round(y1 - band * (y2 - y1))))
    bottom = int(round(y1))
    left, right = max(0, int(round(x1))), min(width, int(round(x2)))
    if bottom - top < 8 or right - left < 8:
        return None
    return left, top, right, bottom


class SignReader:
    def __init__(self, ocr: TextOcr | None = None, min_confidence: float = 0.6, max_lines: int = 6) -> None:
        self.ocr = ocr or TextOcr()
        self.min_confidence = min_confidence
        self.max_lines = max_lines

    def read(self, image_bgr: np.ndarray, polygon: Sequence[Sequence[float]], band: float = 1.0) -> SignRead | None:
        """The sign read above the zone ``polygon`` of ``image_bgr`` (None: no band, or no text in it)."""
        h, w = image_bgr.shape[:2]
        region = sign_band(polygon, w, h, band)
        if region is None:
            return None
        x1, y1, x2, y2 = region
        crop = image_bgr[y1:y2, x1:x2]
        boxes = self.ocr.detect(crop)
        boxes = sorted(boxes, key=lambda b: -_line_height(b.quad))[: self.max_lines]
        reads = self.ocr.read([self.ocr.crop(crop, b) for b in boxes])
        for r in reads:  # tallest line first: the name, not the phone number
            text = _SPACES.sub("", r.text)
            if len(text) >= 2:
                return SignRead(text, r.confidence, r.confidence < self.min_confidence, region)
        return None


def _line_height(quad: np.ndarray) -> float:
    return float(min(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[0] - quad[1])))
