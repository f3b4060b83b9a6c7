"""Class-agnostic static objects: things that lie still where the ground should be clear.

Two background models (Porikli's dual-background idea): a *long-term* baseline of what the zone looks like
when clean, and a *short-term* model (OpenCV's MOG2) that absorbs anything that has stopped moving within
``static_after_s``. A pixel that differs from the long-term baseline but belongs to the short-term
background is part of a new static object. Regions covered by tracked people and vehicles are ignored.

The long-term baseline is one of:
- ``scene``: a background image learned from the stream, updated selectively (never under people,
  vehicles or candidate objects; ghosts of objects that were there at start and left are absorbed);
  frames are aligned to it by phase correlation, and compared with a 3x3 neighbourhood tolerance and a
  global gain correction, so camera jitter and lighting changes do not create objects.
- ``surface``: the zone's clean ground (grass, asphalt) as a robust colour distribution (median and MAD
  of the zone's pixels, re-estimated every frame, so lighting changes cancel out); anything far from it
  is foreign. This also finds litter that already lay there when the camera started.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import cv2
import numpy as np

Baseline = Literal["scene", "surface"]


@dataclass(frozen=True)
class StaticObjectParams:
    baseline: Baseline = "scene"
    min_area: float = 0.0002  # fraction of the frame
    max_area: float = 0.05
    static_after_s: float = 4.0
    long_term_s: float = 600.0
    fps: float = 2.0  # analysed frames per second: turns seconds into model updates
    work_width: int = 320  # analysis resolution; static objects need no more
    scene_threshold: float = 28.0  # Lab distance from the long-term background (0..255 scale)
    surface_k: float = 6.0  # robust z-score from the zone's surface colour
    global_change: float = 0.5  # more of the zone than this changed at once: re-learn the baseline
    max_jitter: float = 0.05  # largest camera shift corrected, fraction of the width


@dataclass
class StaticBlob:
    box: tuple[float, float, float, float]  # pixels of the input image
    area: float  # fraction of the frame
    score: float  # 0..1, how clearly it differs from the baseline


class StaticObjectDetector:
    """Feed every analysed frame of one fixed camera; returns the static objects inside the zones."""

    def __init__(self, polygons: Sequence[np.ndarray], params: StaticObjectParams) -> None:
        self.polygons = [np.asarray(p, dtype=np.float64) for p in polygons]  # normalised
        self.params = params
        self._size: tuple[int, int] | None = None
        self._zone: np.ndarray | None = None
        self._bg: np.ndarray | None = None  # long-term Lab background (scene baseline)
        self._persist: np.ndarray | None = None
        self._normalised: np.ndarray | None = None
        self._short = self._new_short_term()
        self.shift = (0.0, 0.0)  # last measured camera shift, work pixels

    def _new_short_term(self) -> cv2.BackgroundSubtractorMOG2:
        history = max(2, int(round(self.params.static_after_s * self.params.fps)))
        return cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=25, detectShadows=False)

    def reset(self) -> None:
        self._bg = None
        self._persist = None
        self._short = self._new_short_term()

    def update(self, image: np.ndarray, ignore_boxes: np.ndarray | None = None) -> list[StaticBlob]:
        p = self.params
        h0, w0 = image.shape[:2]
        scale = min(1.0, p.work_width / w0)
        size = (max(1, int(round(w0 * scale))), max(1, int(round(h0 * scale))))
        if size != self._size:
            self._size = size
            self._zone = self._zone_mask(size)
            self.reset()
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else image
        small = cv2.GaussianBlur(small, (3, 3), 0)
        ignore = self._ignore_mask(ignore_boxes, scale, size)
        valid = self._zone & ~ignore

        if p.baseline == "scene":
            small = self._align(small)
            small = self._match_brightness(small, valid)
        lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
        fg_short = self._short.apply(small) > 0

        if p.baseline == "scene":
            dist, thr = self._scene_distance(lab, valid)
        else:
            dist, thr = self._surface_distance(lab, valid)
        if dist is None:
            return []
        fg_long = dist > thr
        if valid.any() and fg_long[valid].mean() > p.global_change:
            self.reset()  # the whole view changed (lights, a moved camera): learn it again
            return []

        candidate = fg_long & ~fg_short & valid
        if self._persist is None:
            self._persist = np.zeros(candidate.shape, np.uint16)
        # Evidence accumulates while a pixel stays static; under a person or vehicle it is held, not lost,
        # and so it is everywhere while the short-term model is re-learning a global change (light).
        relearning = valid.any() and fg_short[valid].mean() > 0.3
        held = (ignore | relearning) & self._zone & (self._persist > 0)
        self._persist = np.where(candidate, np.minimum(self._persist + 1, 60000),
                                 np.where(held, self._persist, 0)).astype(np.uint16)
        needed = max(2, int(round(p.static_after_s * p.fps)))
        static = (self._persist >= needed).astype(np.uint8)
        static = cv2.morphologyEx(static, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
        static = cv2.morphologyEx(static, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))

        blobs = self._blobs(static, dist, thr, scale, size, lab)
        if p.baseline == "scene":
            self._learn(lab, fg_long, ignore)
        return blobs

    # -- baselines ----------------------------------------------------------------------------------

    def _scene_distance(self, lab: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray | None, float]:
        if self._bg is None:
            self._bg = lab.copy()
            return None, 0.0
        bg = self._bg
        x = lab.copy()
        if valid.sum() > 50:  # global gain: a brighter or darker day is not an object
            gain = float(np.median(bg[..., 0][valid])) / max(float(np.median(x[..., 0][valid])), 1.0)
            x[..., 0] *= gain
        self._normalised = x
        kernel = np.ones((3, 3), np.uint8)
        lo, hi = cv2.erode(bg, kernel), cv2.dilate(bg, kernel)  # tolerance for residual sub-pixel jitter
        d = np.maximum(np.maximum(lo - x, x - hi), 0.0)
        d[..., 0] *= 0.6  # brightness varies with light and shadow more than colour does
        return np.sqrt((d * d).sum(axis=2)), self.params.scene_threshold

    def _surface_distance(self, lab: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray | None, float]:
        if valid.sum() < 50:
            return None, 0.0
        pixels = lab[valid]
        median = np.median(pixels, axis=0)
        mad = np.median(np.abs(pixels - median), axis=0) * 1.4826
        spread = np.maximum(mad, np.array([4.0, 2.0, 2.0], np.float32))
        z = np.abs(lab - median) / spread
        return z.max(axis=2), self.params.surface_k

    def _align(self, small: np.ndarray) -> np.ndarray:
        """Undo a small camera shift (jitter, wind) by phase correlation against the background."""
        if self._bg is None:
            return small
        ref = self._bg[..., 0]
        cur = cv2.cvtColor(small, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
        window = cv2.createHanningWindow(cur.shape[::-1], cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(ref, cur, window)
        limit = self.params.max_jitter * small.shape[1]
        if response < 0.05 or abs(dx) > limit or abs(dy) > limit or (abs(dx) < 0.5 and abs(dy) < 0.5):
            self.shift = (0.0, 0.0)
            return small
        self.shift = (dx, dy)
        m = np.float32([[1, 0, -dx], [0, 1, -dy]])
        return cv2.warpAffine(small, m, (small.shape[1], small.shape[0]), borderMode=cv2.BORDER_REPLICATE)

    def _match_brightness(self, small: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Scale the frame to the background's brightness, so a global light change reaches neither model."""
        if self._bg is None or valid.sum() < 50:
            return small
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        current = float(np.median(grey[valid]))
        target = _grey_of_lightness(float(np.median(self._bg[..., 0][valid])) * 100.0 / 255.0)
        if current < 1.0 or abs(target / current - 1.0) < 0.03:
            return small
        return np.clip(small.astype(np.float32) * (target / current), 0, 255).astype(np.uint8)

    def _learn(self, lab: np.ndarray, fg_long: np.ndarray, ignore: np.ndarray) -> None:
        """Selective update: background pixels follow slowly; objects, people and vehicles are not learnt."""
        alpha = 1.0 / max(self.params.long_term_s * self.params.fps, 1.0)
        learn = ~fg_long & ~ignore
        # Fast learning where nothing at all is going on keeps up with slow light changes.
        calm = learn & (np.abs(lab[..., 0] - self._bg[..., 0]) < 6)
        rate = np.where(calm, 0.1, np.where(learn, alpha, 0.0)).astype(np.float32)[..., None]
        self._bg += rate * (lab - self._bg)

    # -- helpers ------------------------------------------------------------------------------------

    def _zone_mask(self, size: tuple[int, int]) -> np.ndarray:
        w, h = size
        mask = np.zeros((h, w), np.uint8)
        for poly in self.polygons:
            pts = np.round(poly * np.array([w, h])).astype(np.int32)
            cv2.fillPoly(mask, [pts], 1)
        mask[[0, 1, -2, -1], :] = 0  # the outermost pixels often carry encoder or lens border artefacts
        mask[:, [0, 1, -2, -1]] = 0
        return mask.astype(bool)

    @staticmethod
    def _ignore_mask(boxes: np.ndarray | None, scale: float, size: tuple[int, int]) -> np.ndarray:
        w, h = size
        mask = np.zeros((h, w), bool)
        if boxes is None:
            return mask
        for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * scale:
            mx, my = 0.15 * (x2 - x1) + 2, 0.1 * (y2 - y1) + 2  # margin: boxes are loose around limbs
            mask[max(0, int(y1 - my)):min(h, int(y2 + my) + 1), max(0, int(x1 - mx)):min(w, int(x2 + mx) + 1)] = True
        return mask

    def _blobs(self, static: np.ndarray, dist: np.ndarray, thr: float, scale: float, size: tuple[int, int],
               lab: np.ndarray) -> list[StaticBlob]:
        p = self.params
        w, h = size
        # Parts of one object (a bag and the carton beside it) a few pixels apart are one object.
        grouped = cv2.dilate(static, np.ones((7, 7), np.uint8))
        n, labels, _, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
        labels = labels * static
        out = []
        for k in range(1, n):
            region = labels == k
            area = int(region.sum())
            frac = area / float(w * h)
            if frac < p.min_area or frac > p.max_area:
                continue
            ys, xs = np.nonzero(region)
            x, y, bw, bh = int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
            if p.baseline == "scene" and self._is_ghost(region, lab):
                self._bg[region] = lab[region]  # the object left a hole in the old background: heal it
                continue
            strength = float(dist[region].mean()) / thr
            out.append(StaticBlob(box=(x / scale, y / scale, (x + bw) / scale, (y + bh) / scale), area=frac,
                                  score=float(np.clip(1.0 - np.exp(-strength), 0.0, 1.0))))
        return out

    def _is_ghost(self, region: np.ndarray, lab: np.ndarray) -> bool:
        """An object of the old background that left: now the region looks like the ground around it,
        while in the background image it stood out. (Compared on gain-normalised colours.)"""
        r8 = region.astype(np.uint8)
        ring = cv2.dilate(r8, np.ones((7, 7), np.uint8)).astype(bool) & ~region
        if ring.sum() < 8:
            return False
        x = self._normalised if self._normalised is not None else lab

        def contrast(img: np.ndarray) -> float:
            return float(np.linalg.norm(img[region].mean(axis=0) - img[ring].mean(axis=0)))

        return contrast(x) < 0.5 * contrast(self._bg)


def _grey_of_lightness(lightness: float) -> float:
    """The grey value (0..255, gamma 2.2) whose CIE L* is ``lightness`` (0..100)."""
    y = ((lightness + 16.0) / 116.0) ** 3 if lightness > 8.0 else lightness / 903.3
    return 255.0 * y ** (1 / 2.2)
