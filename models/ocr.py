"""PP-OCRv4 text detection (DB) and recognition (CTC) on onnxruntime: the models in `models/ocr/ppocr-v4/`,
taken out of the `rapidocr-onnxruntime` 1.4.4 wheel by models/conversion/extract_ppocr.py.

Pre- and post-processing follow that package's (`ch_ppocr_det`, `ch_ppocr_rec`): BGR pixels scaled to
(p/255 - 0.5)/0.5; detection on a size that is a multiple of 32, boxes from the thresholded probability map
grown by the DB "unclip" ratio; recognition on 48-px-high lines, greedy CTC decoding.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from models.session import CPU, create_session

OCR_DIR = Path(__file__).resolve().parent / "ocr" / "ppocr-v4"
REC_HEIGHT = 48
DET_THRESH = 0.3  # pixel probability that counts as text
DET_BOX_THRESH = 0.5  # mean probability inside a box that keeps it
UNCLIP_RATIO = 1.6  # DB shrinks text regions in training: grow them back by area * ratio / perimeter


@dataclass(frozen=True)
class TextBox:
    quad: np.ndarray  # 4x2 float32, clockwise from top-left, pixels of the image given
    score: float  # mean text probability inside


@dataclass(frozen=True)
class TextRead:
    text: str
    confidence: float  # mean probability of the kept characters (0 for no text)


class TextOcr:
    """Finds text lines in an image and reads them. Thread-compatible, not thread-safe (one per thread)."""

    def __init__(self, directory: str | Path = OCR_DIR, providers: Sequence[str] = (CPU,), threads: int = 1) -> None:
        directory = Path(directory)
        self.det = create_session(directory / "det.onnx", providers, threads, label="ppocr-v4 det", spin=False)
        self.rec = create_session(directory / "rec.onnx", providers, threads, label="ppocr-v4 rec", spin=False)
        chars = self.rec.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.charset = ["", *chars, " "]  # index 0 is the CTC blank

    # -- detection -------------------------------------------------------------------------------

    def detect(self, image_bgr: np.ndarray, min_side: int = 320) -> list[TextBox]:
        """Text boxes in ``image_bgr``; small images are scaled up so their shorter side is ``min_side``."""
        h, w = image_bgr.shape[:2]
        ratio = max(1.0, min_side / min(h, w))
        rh, rw = max(32, round(h * ratio / 32) * 32), max(32, round(w * ratio / 32) * 32)
        resized = cv2.resize(image_bgr, (rw, rh))
        blob = _normalise(resized)[np.newaxis]
        prob = self.det.run(None, {self.det.get_inputs()[0].name: blob})[0][0, 0]
        mask = cv2.dilate((prob > DET_THRESH).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        boxes = []
        sx, sy = w / rw, h / rh
        for contour in contours[:1000]:
            rect = cv2.minAreaRect(contour)
            if min(rect[1]) < 3:
                continue
            score = _mean_inside(prob, cv2.boxPoints(rect))
            if score < DET_BOX_THRESH:
                continue
            (cx, cy), (bw, bh), angle = rect
            grow = bw * bh * UNCLIP_RATIO / (2 * (bw + bh))  # the offset of a rectangle's unclip polygon
            quad = cv2.boxPoints(((cx, cy), (bw + 2 * grow, bh + 2 * grow), angle))
            quad[:, 0] = np.clip(quad[:, 0] * sx, 0, w - 1)
            quad[:, 1] = np.clip(quad[:, 1] * sy, 0, h - 1)
            boxes.append(TextBox(_order_clockwise(quad), score))
        return boxes

    # -- recognition -----------------------------------------------------------------------------

    def read(self, lines_bgr: Sequence[np.ndarray]) -> list[TextRead]:
        """Read each text-line image (one line each, any size)."""
        if not lines_bgr:
            return []
        max_ratio = max(320 / REC_HEIGHT, *(im.shape[1] / max(1, im.shape[0]) for im in lines_bgr))
        width = int(math.ceil(REC_HEIGHT * max_ratio))
        batch = np.zeros((len(lines_bgr), 3, REC_HEIGHT, width), np.float32)
        for i, im in enumerate(lines_bgr):
            rw = min(width, int(math.ceil(REC_HEIGHT * im.shape[1] / max(1, im.shape[0]))))
            batch[i, :, :, :rw] = _normalise(cv2.resize(im, (max(1, rw), REC_HEIGHT)))
        probs = self.rec.run(None, {self.rec.get_inputs()[0].name: batch})[0]
        return [self._decode(p) for p in probs]

    def crop(self, image_bgr: np.ndarray, box: TextBox) -> np.ndarray:
        """The box's line, warped upright (the package's ``get_rotate_crop_image``)."""
        q = box.quad.astype(np.float32)
        width = int(max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3])))
        height = int(max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2])))
        width, height = max(1, width), max(1, height)
        target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        m = cv2.getPerspectiveTransform(q, target)
        line = cv2.warpPerspective(image_bgr, m, (width, height), borderMode=cv2.BORDER_REPLICATE,
                                   flags=cv2.INTER_CUBIC)
        return np.rot90(line) if height / width >= 1.5 else line

    def _decode(self, probs: np.ndarray) -> TextRead:
        idx = probs.argmax(axis=1)
        conf = probs.max(axis=1)
        keep = np.ones(len(idx), dtype=bool)
        keep[1:] = idx[1:] != idx[:-1]  # CTC: merge repeats, then drop blanks
        keep &= idx != 0
        if not keep.any():
            return TextRead("", 0.0)
        text = "".join(self.charset[i] if i < len(self.charset) else "" for i in idx[keep])
        return TextRead(text, float(conf[keep].mean()))


def _normalise(image_bgr: np.ndarray) -> np.ndarray:
    return ((image_bgr.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)


def _mean_inside(prob: np.ndarray, quad: np.ndarray) -> float:
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(quad.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(quad.max(0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(quad - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _order_clockwise(quad: np.ndarray) -> np.ndarray:
    xs = quad[np.argsort(quad[:, 0])]
    left, right = xs[:2][np.argsort(xs[:2, 1])], xs[2:][np.argsort(xs[2:, 1])]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)
