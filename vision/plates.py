"""Licence plates: find and read a Chinese plate inside a vehicle's crop, normalised to the plate formats.

Formats (GA 36): a province abbreviation, the issuing office's letter, then 5 characters (blue, yellow,
black plates) or 6 (new-energy green plates). Letters I and O are not used after the province, so an OCR
``O``/``I`` there is a ``0``/``1``. A read that fits no format, or whose confidence is below the threshold,
is kept and flagged ``uncertain``: an officer decides, nothing is silently dropped.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from models.ocr import TextOcr

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_ALNUM = "A-HJ-NP-Z0-9"  # no I, no O
PLATE_RE = re.compile(f"^[{PROVINCES}][A-HJ-NP-Z][{_ALNUM}]{{5,6}}$")
_SEPARATORS = re.compile(r"[\s·•∙・.\-_:：,，'\"`|]")
_LOOKALIKES = str.maketrans({"O": "0", "I": "1"})
_PLATE_ASPECT = (1.8, 9.0)  # width / height of a one-line plate box (440x140 mm is 3.1; 480x140 is 3.4)


@dataclass(frozen=True)
class PlateRead:
    plate: str  # normalised text (the raw OCR text, cleaned, when it fits no format)
    confidence: float  # OCR confidence of the read, 0..1
    valid: bool  # fits a Chinese plate format
    uncertain: bool  # not valid, or confidence below the reader's threshold

    def as_dict(self) -> dict:
        return {"plate": self.plate, "plate_confidence": round(self.confidence, 4), "plate_valid": self.valid,
                "plate_uncertain": self.uncertain}


def normalise_plate(text: str) -> tuple[str, bool]:
    """(normalised text, fits a format). Separators go, letters are upper-cased, I/O after the province
    become 1/0, and a known province followed by 6 or 7 characters is taken as a plate."""
    cleaned = _SEPARATORS.sub("", text).upper()
    # the province may come with text read around the plate (a frame, a dealer's name): find it
    for start, ch in enumerate(cleaned):
        if ch in PROVINCES:
            tail = cleaned[start + 1:]
            for length in (7, 6):  # new energy (letter + 6) first, so the 8th character is not dropped
                after = tail[length:length + 1]
                if len(tail) < length or after.isascii() and after.isalnum():
                    continue  # too short, or the characters run on (京A12345678 is no plate)
                candidate = ch + tail[0] + tail[1:length].translate(_LOOKALIKES)
                if PLATE_RE.match(candidate):
                    return candidate, True
    return cleaned, False


def plate_boxes_first(boxes: Sequence, image_height: int) -> list:
    """Text boxes of plate-like shape, lowest in the vehicle first (plates sit low on the body)."""
    keep = []
    for b in boxes:
        q = b.quad
        w = float(np.linalg.norm(q[0] - q[1]))
        h = float(np.linalg.norm(q[0] - q[3]))
        if h > 0 and _PLATE_ASPECT[0] <= w / h <= _PLATE_ASPECT[1]:
            keep.append(b)
    return sorted(keep, key=lambda b: -float(b.quad[:, 1].mean()) / max(1, image_height))


class PlateReader:
    """Reads the plate in a vehicle crop with PP-OCRv4 (`models.ocr.TextOcr`)."""

    def __init__(self, ocr: TextOcr | None = None, min_confidence: float = 0.8, max_lines: int = 6,
                 max_side: int = 640) -> None:
        self.ocr = ocr or TextOcr()
        self.max_side = max_side
        self.min_confidence = min_confidence
        self.max_lines = max_lines

    def read(self, crop_bgr: np.ndarray) -> PlateRead | None:
        """The best plate read in ``crop_bgr`` (None when no text of plate shape is found)."""
        if crop_bgr.size == 0 or min(crop_bgr.shape[:2]) < 8:
            return None
        h, w = crop_bgr.shape[:2]
        if max(h, w) > self.max_side:  # a close vehicle: its plate stays large enough at this size, det is 4x faster
            f = self.max_side / max(h, w)
            crop_bgr = cv2.resize(crop_bgr, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        boxes = plate_boxes_first(self.ocr.detect(crop_bgr), crop_bgr.shape[0])[: self.max_lines]
        if not boxes:
            return None
        reads = self.ocr.read([self.ocr.crop(crop_bgr, b) for b in boxes])
        best: PlateRead | None = None
        for r in reads:
            if not r.text:
                continue
            plate, valid = normalise_plate(r.text)
            cand = PlateRead(plate, r.confidence, valid, uncertain=not valid or r.confidence < self.min_confidence)
            if best is None or (cand.valid, cand.confidence) > (best.valid, best.confidence):
                best = cand
        return best
