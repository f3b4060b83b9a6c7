"""A tiny RGBA painter for procedural sprites: anti-aliased polygons and ellipses with shading and texture.

Colours are BGR floats in 0..1. A sprite's bottom edge is where the object touches the ground.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

SHIFT = 4  # sub-pixel precision of cv2's anti-aliased fills
Color = Sequence[float]


def bgr(hex_rgb: str) -> tuple[float, float, float]:
    """'#rrggbb' -> (b, g, r) in 0..1."""
    v = hex_rgb.lstrip("#")
    r, g, b = (int(v[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return (b, g, r)


def jitter(color: Color, rng: np.random.Generator, amount: float = 0.08) -> np.ndarray:
    """The colour, a little lighter or darker and a little off in hue, like the same object in another batch."""
    c = np.asarray(color, np.float32) * rng.uniform(1 - amount * 2, 1 + amount)
    return np.clip(c + rng.normal(0, amount / 4, 3), 0, 1).astype(np.float32)


def smooth_noise(h: int, w: int, rng: np.random.Generator, scale: float = 2.0) -> np.ndarray:
    """Zero-mean, unit-std noise with blobs about ``scale`` pixels across."""
    n = rng.standard_normal((h, w)).astype(np.float32)
    if scale > 0.5:
        n = cv2.GaussianBlur(n, (0, 0), scale)
    return (n - n.mean()) / (n.std() + 1e-6)


class Sprite:
    """An RGBA canvas. ``paint`` composites a coverage mask with a colour, shading and texture over it."""

    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = int(width), int(height)
        self.rgb = np.zeros((self.h, self.w, 3), np.float32)
        self.alpha = np.zeros((self.h, self.w), np.float32)
        yy, xx = np.mgrid[0:self.h, 0:self.w].astype(np.float32)
        self.xx, self.yy = xx, yy  # pixel coordinates, for shading functions

    # -- masks ------------------------------------------------------------------------------------

    def poly_mask(self, pts: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        p = np.round(np.asarray(pts, np.float64) * (1 << SHIFT)).astype(np.int32)
        cv2.fillPoly(m, [p], 255, cv2.LINE_AA, shift=SHIFT)
        return m.astype(np.float32) / 255

    def ellipse_mask(self, center: Sequence[float], axes: Sequence[float], angle: float = 0.0,
                     start: float = 0.0, end: float = 360.0) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        c = tuple(int(round(v * (1 << SHIFT))) for v in center)
        a = tuple(max(1, int(round(v * (1 << SHIFT)))) for v in axes)
        cv2.ellipse(m, c, a, angle, start, end, 255, -1, cv2.LINE_AA, shift=SHIFT)
        return m.astype(np.float32) / 255

    def line_mask(self, pts: Sequence[Sequence[float]], thickness: float) -> np.ndarray:
        m = np.zeros((self.h, self.w), np.uint8)
        p = np.round(np.asarray(pts, np.float64) * (1 << SHIFT)).astype(np.int32)
        cv2.polylines(m, [p], False, 255, max(1, int(round(thickness))), cv2.LINE_AA, shift=SHIFT)
        return m.astype(np.float32) / 255

    # -- painting ---------------------------------------------------------------------------------

    def paint(self, mask: np.ndarray, color: Color, shade: np.ndarray | float = 1.0, texture: float = 0.0,
              rng: np.random.Generator | None = None, texture_scale: float = 1.5, opacity: float = 1.0) -> None:
        layer = np.broadcast_to(np.asarray(color, np.float32), (self.h, self.w, 3)).copy()
        shade_map = np.asarray(shade, np.float32)
        if texture and rng is not None:
            shade_map = shade_map * (1 + texture * smooth_noise(self.h, self.w, rng, texture_scale))
        if shade_map.ndim == 2:
            layer *= shade_map[..., None]
        else:
            layer *= shade_map
        m = (mask * opacity)[..., None]
        self.rgb = self.rgb * (1 - m) + np.clip(layer, 0, 1) * m
        self.alpha = self.alpha + mask * opacity * (1 - self.alpha)

    def poly(self, pts, color: Color, **kw) -> None:
        self.paint(self.poly_mask(pts), color, **kw)

    def ellipse(self, center, axes, color: Color, angle: float = 0.0, start: float = 0.0, end: float = 360.0, **kw) -> None:
        self.paint(self.ellipse_mask(center, axes, angle, start, end), color, **kw)

    def line(self, pts, color: Color, thickness: float, **kw) -> None:
        self.paint(self.line_mask(pts, thickness), color, **kw)

    # -- shading maps -----------------------------------------------------------------------------

    def vgrad(self, y0: float, y1: float, top: float, bottom: float) -> np.ndarray:
        t = np.clip((self.yy - y0) / max(y1 - y0, 1e-6), 0, 1)
        return top + (bottom - top) * t

    def hgrad(self, x0: float, x1: float, left: float, right: float) -> np.ndarray:
        t = np.clip((self.xx - x0) / max(x1 - x0, 1e-6), 0, 1)
        return left + (right - left) * t

    def cylinder(self, x0: float, x1: float, light: float = 0.35, base: float = 0.75) -> np.ndarray:
        """Shading of a vertical cylinder between x0 and x1 lit from slightly left of the viewer."""
        t = np.clip((self.xx - x0) / max(x1 - x0, 1e-6), 0, 1)
        return base + light * np.sin(np.pi * np.clip(t * 1.1, 0, 1)) - 0.15 * t

    def radial(self, cx: float, cy: float, r: float, centre: float = 1.15, edge: float = 0.6) -> np.ndarray:
        d = np.sqrt((self.xx - cx) ** 2 + (self.yy - cy) ** 2) / max(r, 1e-6)
        return centre + (edge - centre) * np.clip(d, 0, 1)

    # -- result -----------------------------------------------------------------------------------

    def cropped(self, pad: int = 1) -> "Sprite":
        """This sprite cut to its content (alpha > 0.02), keeping ``pad`` pixels around."""
        ys, xs = np.nonzero(self.alpha > 0.02)
        if len(xs) == 0:
            return self
        x0, x1 = max(0, xs.min() - pad), min(self.w, xs.max() + 1 + pad)
        y0, y1 = max(0, ys.min() - pad), min(self.h, ys.max() + 1 + pad)
        out = Sprite.__new__(Sprite)
        out.w, out.h = x1 - x0, y1 - y0
        out.rgb = self.rgb[y0:y1, x0:x1].copy()
        out.alpha = self.alpha[y0:y1, x0:x1].copy()
        out.xx = out.yy = None  # type: ignore[assignment]
        return out


def arc(center: Sequence[float], axes: Sequence[float], a0: float, a1: float, n: int = 24) -> np.ndarray:
    """Points on an ellipse from angle a0 to a1 (degrees; 0 = +x, 90 = +y i.e. down in image coordinates)."""
    t = np.radians(np.linspace(a0, a1, n))
    return np.stack([center[0] + axes[0] * np.cos(t), center[1] + axes[1] * np.sin(t)], axis=1)


def blob(center: Sequence[float], rx: float, ry: float, rng: np.random.Generator, wobble: float = 0.12,
         n: int = 48, pear: float = 0.0) -> np.ndarray:
    """A closed, irregular round outline (a bag, a stone, a heap of rubbish)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones_like(t)
    for k in range(2, 6):
        r += wobble / k * rng.uniform(0.3, 1.0) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    x = center[0] + rx * r * np.cos(t) * (1 + pear * np.sin(t))  # pear > 0: wider at the bottom
    y = center[1] + ry * r * np.sin(t)
    return np.stack([x, y], axis=1)
