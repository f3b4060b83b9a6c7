"""Procedural drawings of the objects of the newer scenes (issue 15): laundry hung along the street,
advertising signs and banners, and muck trucks with covered or uncovered loads. Same conventions as
``objects.py``: each ``draw_*`` returns a cropped :class:`Sprite` whose bottom edge stands on the ground (hung
laundry: the line it hangs from is the top edge)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from datasets.synthetic.draw import Sprite, bgr, jitter

CLOTH_COLORS = [bgr(c) for c in ("#e53935", "#1e88e5", "#fdd835", "#43a047", "#8e24aa", "#fb8c00", "#ec407a",
                                 "#00acc1", "#c0ca33", "#f48fb1", "#3949ab")]
SIGN_COLORS = [bgr(c) for c in ("#d50000", "#ffd600", "#2962ff", "#00c853", "#ff6d00", "#aa00ff", "#c51162")]
CAB_COLORS = [bgr(c) for c in ("#1565c0", "#2e7d32", "#f9a825", "#c62828", "#eeeeee", "#00838f")]
SOIL_COLORS = [bgr(c) for c in ("#7a5c3e", "#8d6e4e", "#6b4f35", "#9c8462", "#5d4a36")]
TARP_COLORS = [bgr(c) for c in ("#2e7d32", "#1b5e20", "#1565c0", "#388e3c", "#455a64")]


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def draw_laundry(rng: np.random.Generator) -> Sprite:
    """Shirts, trousers, towels or a quilt hung over a rail or wire: bright cloth in a row."""
    n = int(rng.integers(3, 6))
    w, h = 36 * n + 8, 90
    s = Sprite(w, h)
    s.line([(0, 3), (w, 3)], (0.25, 0.25, 0.25), 2)
    x = 4.0
    for _ in range(n):
        kind = _pick(rng, ["shirt", "trousers", "towel", "quilt"])
        c = jitter(_pick(rng, CLOTH_COLORS), rng)
        gw = float(rng.uniform(24, 32)) if kind != "quilt" else float(rng.uniform(40, 56))
        gh = {"shirt": rng.uniform(34, 46), "trousers": rng.uniform(55, 75), "towel": rng.uniform(30, 45),
              "quilt": rng.uniform(60, 80)}[kind]
        if x + gw > w - 2:
            break
        if kind == "shirt":
            s.poly([(x, 4), (x + gw, 4), (x + gw + 6, 16), (x + gw - 2, 20), (x + gw - 3, 4 + gh), (x + 3, 4 + gh),
                    (x + 2, 20), (x - 6, 16)], c, shade=s.vgrad(4, 4 + gh, 1.0, 0.8), texture=0.06, rng=rng)
        elif kind == "trousers":
            s.poly([(x, 4), (x + gw, 4), (x + gw, 4 + gh), (x + gw * 0.55, 4 + gh), (x + gw / 2, 24),
                    (x + gw * 0.45, 4 + gh), (x, 4 + gh)], c, shade=s.vgrad(4, 4 + gh, 1.0, 0.75), texture=0.06, rng=rng)
        else:
            s.poly([(x, 4), (x + gw, 4), (x + gw, 4 + gh), (x, 4 + gh)], c, shade=s.vgrad(4, 4 + gh, 1.05, 0.8),
                   texture=0.08, rng=rng)
            for k in range(int(rng.integers(0, 4))):  # stripes or a pattern
                yy = 8 + (gh - 8) * (k + 1) / 5
                s.line([(x + 1, yy), (x + gw - 1, yy)], np.asarray(_pick(rng, CLOTH_COLORS)), 2)
        x += gw + float(rng.uniform(4, 9))
    return s.cropped()


def draw_ad_sign(rng: np.random.Generator) -> Sprite:
    """A standing sign board on legs, or a banner: a bright rectangle with lines of large characters."""
    banner = rng.random() < 0.5
    bw, bh = (float(rng.uniform(120, 180)), float(rng.uniform(30, 44))) if banner else \
        (float(rng.uniform(50, 70)), float(rng.uniform(70, 95)))
    legs = 0.0 if banner else float(rng.uniform(8, 14))
    s = Sprite(bw + 4, bh + legs + 4)
    base = jitter(_pick(rng, SIGN_COLORS), rng, 0.05)
    if legs:
        for lx in (6, bw - 6):
            s.line([(lx, bh), (lx, bh + legs + 2)], (0.2, 0.2, 0.2), 3)
    s.poly([(2, 2), (bw + 2, 2), (bw + 2, bh + 2), (2, bh + 2)], base, shade=s.vgrad(2, bh, 1.05, 0.9))
    ink = (0.97, 0.97, 0.97) if float(np.mean(base)) < 0.55 else (0.1, 0.1, 0.6)
    rows = 1 if banner else int(rng.integers(2, 4))
    for r in range(rows):  # blocks of characters
        y0 = 6 + (bh - 8) * r / rows
        ch = (bh - 8) / rows * 0.6
        x = 8.0
        while x + ch < bw - 4:
            s.poly([(x, y0), (x + ch * 0.8, y0), (x + ch * 0.8, y0 + ch), (x, y0 + ch)], ink, opacity=0.9)
            x += ch
    s.line([(2, 2), (bw + 2, 2), (bw + 2, bh + 2), (2, bh + 2), (2, 2)], np.asarray(base) * 0.6, 2)
    return s.cropped()


def draw_muck_truck(rng: np.random.Generator, covered: bool | None = None, k: float = 2.5) -> Sprite:
    """A dump truck seen from the side: cab, high-sided bed and wheels; the load heaped above the rim
    (uncovered) or under a tarpaulin or net tied flat over the top (covered). Drawn ``k`` times the base size
    (about 220 x 100 px), so that a truck filling much of a frame is not an upscaled blur."""
    if covered is None:
        covered = bool(rng.random() < 0.5)
    w, h = 220.0 * k, 110.0 * k
    s = Sprite(w, h)

    def pts(*xy: tuple[float, float]) -> list[tuple[float, float]]:
        return [(x * k, y * k) for x, y in xy]

    cab_w, bed_x0, rim, right = 52.0, 58.0, 44.0, 216.0
    cab = jitter(_pick(rng, CAB_COLORS), rng)
    s.poly(pts((4, 34), (cab_w - 8, 34), (cab_w, 48), (cab_w, 92), (4, 92)), cab, shade=s.vgrad(34 * k, 92 * k, 1.05, 0.8))
    s.poly(pts((12, 40), (cab_w - 10, 40), (cab_w - 4, 52), (12, 52)), (0.55, 0.65, 0.7))  # window
    body = jitter(_pick(rng, [bgr("#546e7a"), bgr("#6d4c41"), bgr("#37474f"), bgr("#9e9e9e")]), rng)
    s.poly(pts((bed_x0, rim), (right, rim), (right, 90), (bed_x0, 90)), body, shade=s.vgrad(rim * k, 90 * k, 1.0, 0.75),
           texture=0.05, rng=rng)
    for xx in np.linspace(bed_x0 + 12, right - 12, 6):
        s.line(pts((xx, rim + 4), (xx, 86)), np.asarray(body) * 0.7, 2 * k)
    if covered:
        tarp = jitter(_pick(rng, TARP_COLORS), rng)
        s.poly(pts((bed_x0 - 2, rim - 6), (right + 2, rim - 6), (right + 2, rim + 6), (bed_x0 - 2, rim + 6)), tarp,
               shade=s.hgrad(bed_x0 * k, right * k, 1.0, 0.85), texture=0.04, rng=rng)
        for xx in np.linspace(bed_x0 + 8, right - 6, 7):  # ropes over the cover
            s.line(pts((xx, rim - 6), (xx + 3, rim + 10)), (0.85, 0.85, 0.8), k)
    else:
        soil = jitter(_pick(rng, SOIL_COLORS), rng)
        peaks = [(bed_x0, rim)] + [(float(xx), rim - float(rng.uniform(12, 28)))
                                   for xx in np.linspace(bed_x0 + 8, right - 6, 7)]
        peaks += [(right, rim), (right, rim + 4), (bed_x0, rim + 4)]
        s.poly(pts(*peaks), soil, shade=s.vgrad((rim - 28) * k, rim * k, 1.15, 0.8), texture=0.25, rng=rng,
               texture_scale=1.2 * k)
        for _ in range(int(rng.integers(6, 12))):  # clods and stones
            cx, cy = float(rng.uniform(bed_x0 + 6, right - 6)), float(rng.uniform(rim - 14, rim))
            s.ellipse((cx * k, cy * k), (float(rng.uniform(2, 5)) * k, float(rng.uniform(2, 4)) * k),
                      np.asarray(soil) * 0.6)
    s.poly(pts((4, 90), (right, 90), (right, 96), (4, 96)), (0.12, 0.12, 0.12))  # chassis
    for cx in (28.0, 120.0, 150.0, 190.0):
        s.ellipse((cx * k, 96 * k), (12 * k, 12 * k), (0.08, 0.08, 0.08))
        s.ellipse((cx * k, 96 * k), (5 * k, 5 * k), (0.55, 0.55, 0.55))
    return s.cropped()


SCENE_DRAWERS: dict[str, Callable[[np.random.Generator], Sprite]] = {
    "laundry": draw_laundry,
    "ad_sign": draw_ad_sign,
    "muck_truck": draw_muck_truck,
}
# A dump truck stands about 3 m tall, but its side view is 2.8x as wide as tall: at full height it would not fit the
# near rows of a frame, so it is drawn a little smaller.
SCENE_HEIGHT_M = {"laundry": 0.9, "ad_sign": 1.2, "muck_truck": 2.2}
