"""Procedural drawings of the urban classes, seen from a street camera a few metres up.

Each ``draw_*`` returns a cropped :class:`Sprite` whose bottom edge stands on the ground. Shapes, colours,
proportions and details are drawn at random within what the real objects look like in Chinese streets:
wheelie bins and twin-mouth street bins in the sorting colours, black/green/white bags and woven sacks,
soil, sand and rubble heaps, striped vendor parasols, table stalls, tricycle carts and push carts, goods put out
in front of shops (crates, shelf racks) and building material (bricks, blocks, boards, pipes).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from datasets.synthetic import CLASSES
from datasets.synthetic.draw import Sprite, arc, bgr, blob, jitter

__all__ = ["CLASSES", "DRAWERS", "HEIGHT_M"]

BIN_COLORS = [bgr(c) for c in ("#2e7d32", "#1b5e20", "#1565c0", "#546e7a", "#37474f", "#c62828", "#9e9e9e",
                               "#f9a825", "#ef6c00", "#263238", "#5d4037")]
BAG_COLORS = [bgr(c) for c in ("#111111", "#1a1a1a", "#2b2b2b", "#1b3d1f", "#12305e", "#e6e6e6", "#d8d27a",
                               "#8c1d1d", "#3a3a5a")]
SACK_COLORS = [bgr(c) for c in ("#d9cfae", "#e8e2cf", "#c9b98a", "#b9c6d6")]
GOODS_COLORS = [bgr(c) for c in ("#e53935", "#fb8c00", "#fdd835", "#43a047", "#1e88e5", "#8e24aa", "#f5f5f5",
                                 "#6d4c41", "#ff7043", "#c0ca33", "#ec407a")]
TRASH_COLORS = [bgr(c) for c in ("#111111", "#2b2b2b", "#e0e0e0", "#a1887f", "#8d6e63", "#1e88e5", "#43a047",
                                 "#fdd835", "#e53935", "#cfd8dc", "#795548")]
PARASOL_SCHEMES = [
    [bgr("#d32f2f"), bgr("#f5f5f5")], [bgr("#1565c0"), bgr("#f5f5f5")], [bgr("#2e7d32"), bgr("#f5f5f5")],
    [bgr("#fbc02d"), bgr("#1565c0")], [bgr("#d32f2f")], [bgr("#1565c0")], [bgr("#f0e6c8")], [bgr("#ef6c00")],
    [bgr("#d32f2f"), bgr("#fbc02d"), bgr("#388e3c"), bgr("#1976d2")], [bgr("#6a1b9a"), bgr("#f5f5f5")],
]
DEBRIS_BASES = [bgr(c) for c in ("#7a5c3e", "#8d6e4e", "#b59b72", "#8a8a86", "#6f6a62", "#a39478", "#5d4a36")]
FRAGMENT_COLORS = [bgr(c) for c in ("#8a4a3a", "#9a9a94", "#b8b8b0", "#6b5038", "#4a4a48", "#a89878", "#7a7a72",
                                    "#c8c0b0", "#5a4a3a", "#3f5f8f", "#d0d0c8")]


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


# -- bins -----------------------------------------------------------------------------------------

def _bin_body(s: Sprite, rng: np.random.Generator, x0: float, x1: float, top: float, bottom: float) -> tuple[str, dict]:
    """Draw one street bin between x0..x1, top..bottom; returns its kind and the opening (for overflow)."""
    kind = _pick(rng, ["wheelie", "round", "twin", "wheelie"])
    color = jitter(_pick(rng, BIN_COLORS), rng)
    w, h = x1 - x0, bottom - top
    depth = h * rng.uniform(0.08, 0.16)  # how much of the top we see from above
    if kind == "round":
        cx, rx = (x0 + x1) / 2, w / 2
        ry = depth
        s.poly([(x0, top + ry), (x1, top + ry), (x1, bottom - ry), (x0, bottom - ry)], color,
               shade=s.cylinder(x0, x1), texture=0.025, rng=rng)
        s.ellipse((cx, bottom - ry), (rx, ry), color, start=0, end=180, shade=s.cylinder(x0, x1) * 0.9)
        for k in range(int(rng.integers(0, 5))):  # ribs or stripes on a metal bin
            xx = x0 + w * (k + 1) / 6
            s.line([(xx, top + ry * 2), (xx, bottom - ry * 1.2)], np.asarray(color) * 0.7, max(1, w * 0.015))
        s.ellipse((cx, top + ry), (rx, ry), np.asarray(color) * 1.15, shade=1.0)
        s.ellipse((cx, top + ry), (rx * 0.8, ry * 0.7), (0.05, 0.05, 0.05), shade=1.0)
        opening = {"cx": cx, "y": top + ry, "rx": rx * 0.85, "ry": ry}
    elif kind == "twin":
        s.poly([(x0, top + depth), (x1, top + depth), (x1, bottom), (x0, bottom)], color,
               shade=s.vgrad(top, bottom, 0.95, 0.7), texture=0.05, rng=rng)
        second = jitter(_pick(rng, BIN_COLORS), rng)
        if rng.random() < 0.6:  # two sorting colours side by side
            s.poly([((x0 + x1) / 2, top + depth), (x1, top + depth), (x1, bottom), ((x0 + x1) / 2, bottom)], second,
                   shade=s.vgrad(top, bottom, 0.9, 0.65), texture=0.05, rng=rng)
        sk = w * rng.uniform(0.0, 0.12)
        s.poly([(x0, top + depth), (x1, top + depth), (x1 - sk, top), (x0 + sk, top)], np.asarray(color) * 1.2)
        for cx in (x0 + w * 0.27, x0 + w * 0.73):  # the two mouths
            s.poly([(cx - w * 0.16, top + depth + h * 0.1), (cx + w * 0.16, top + depth + h * 0.1),
                    (cx + w * 0.14, top + depth + h * 0.25), (cx - w * 0.14, top + depth + h * 0.25)], (0.04, 0.04, 0.04))
        s.poly([(x0 + w * 0.05, bottom - h * 0.04), (x1 - w * 0.05, bottom - h * 0.04), (x1 - w * 0.05, bottom),
                (x0 + w * 0.05, bottom)], (0.1, 0.1, 0.1))
        opening = {"cx": (x0 + x1) / 2, "y": top + depth / 2, "rx": w * 0.45, "ry": depth / 2}
    else:  # wheelie bin, slightly wider at the top
        inset = w * rng.uniform(0.03, 0.08)
        s.poly([(x0, top + depth), (x1, top + depth), (x1 - inset, bottom - h * 0.06), (x0 + inset, bottom - h * 0.06)],
               color, shade=s.vgrad(top, bottom, 1.0, 0.7) * s.hgrad(x0, x1, 1.05, 0.85), texture=0.04, rng=rng)
        for k in range(int(rng.integers(0, 3))):  # moulded ridges
            yy = top + depth + h * (0.25 + 0.2 * k)
            s.line([(x0 + inset, yy), (x1 - inset, yy)], np.asarray(color) * 0.75, max(1, h * 0.012))
        over = w * 0.04
        s.poly([(x0 - over, top + depth), (x1 + over, top + depth), (x1 + over * 0.2, top), (x0 - over * 0.2, top)],
               np.asarray(color) * 1.15, texture=0.03, rng=rng)
        s.poly([(x0 - over, top + depth), (x1 + over, top + depth), (x1 + over, top + depth * 1.35),
                (x0 - over, top + depth * 1.35)], np.asarray(color) * 0.8)
        for cx in (x0 + inset + w * 0.08, x1 - inset - w * 0.08):
            s.ellipse((cx, bottom - h * 0.06), (w * 0.09, h * 0.06), (0.06, 0.06, 0.06))
        opening = {"cx": (x0 + x1) / 2, "y": top + depth / 2, "rx": w * 0.46, "ry": depth / 2}
    return kind, opening


def _trash_heap(s: Sprite, rng: np.random.Generator, cx: float, base_y: float, rx: float, height: float) -> None:
    """Rubbish piled above a bin's rim: bags, boxes and bottles in a rough dome."""
    n = int(rng.integers(6, 16))
    for _ in range(n):
        t = rng.uniform(-1, 1)
        x = cx + t * rx * rng.uniform(0.6, 1.15)
        y = base_y - height * (1 - t * t) ** 0.5 * rng.uniform(0.35, 1.0)
        kind = rng.random()
        col = jitter(_pick(rng, TRASH_COLORS), rng, 0.12)
        size = rx * rng.uniform(0.22, 0.5)
        if kind < 0.55:  # bag
            pts = blob((x, y), size, size * rng.uniform(0.7, 1.0), rng, 0.2)
            s.poly(pts, col, shade=s.radial(x - size * 0.3, y - size * 0.3, size * 1.4), texture=0.08, rng=rng)
        elif kind < 0.85:  # carton
            a = rng.uniform(-0.6, 0.6)
            c, sn = np.cos(a), np.sin(a)
            bw, bh = size * 1.2, size * 0.8
            pts = [(x + c * dx - sn * dy, y + sn * dx + c * dy) for dx, dy in ((-bw, -bh), (bw, -bh), (bw, bh), (-bw, bh))]
            s.poly(pts, jitter(bgr("#b08a5a"), rng, 0.15) if rng.random() < 0.6 else col, texture=0.06, rng=rng)
        else:  # bottle or can
            s.line([(x, y), (x + rng.uniform(-1, 1) * size, y - size * 0.6)], col, max(2, size * 0.35))


def draw_bin(rng: np.random.Generator, overflowing: bool = False) -> Sprite:
    W, H = 220, 300
    s = Sprite(W, H)
    w = rng.uniform(70, 120)
    h = w * rng.uniform(1.15, 1.7)
    x0, bottom = (W - w) / 2, H - 4
    top = bottom - h
    heap_h = h * rng.uniform(0.25, 0.55)
    if overflowing and rng.random() < 0.5:  # an open lid stands up behind the heap
        lid_col = jitter(_pick(rng, BIN_COLORS), rng)
        s.poly([(x0 - 2, top + 4), (x0 + w + 2, top + 4), (x0 + w * 0.95, top - heap_h * 1.1), (x0 + w * 0.05, top - heap_h * 1.1)],
               lid_col, shade=0.8, texture=0.04, rng=rng)
    _kind, opening = _bin_body(s, rng, x0, x0 + w, top, bottom)
    if overflowing:
        _trash_heap(s, rng, opening["cx"], opening["y"] + opening["ry"], opening["rx"] * 1.1, heap_h)
        for _ in range(int(rng.integers(0, 4))):  # spilled at the foot of the bin
            side = _pick(rng, [-1, 1])
            x = opening["cx"] + side * (w * rng.uniform(0.45, 0.75))
            size = w * rng.uniform(0.1, 0.2)
            y = bottom - size * 0.8
            s.poly(blob((x, y), size * 1.2, size * 0.8, rng, 0.25), jitter(_pick(rng, TRASH_COLORS), rng, 0.12),
                   shade=s.radial(x, y - size * 0.4, size * 1.5), texture=0.08, rng=rng)
    return s.cropped()


def draw_overflowing_bin(rng: np.random.Generator) -> Sprite:
    return draw_bin(rng, overflowing=True)


# -- bags -----------------------------------------------------------------------------------------

def draw_garbage_bag(rng: np.random.Generator) -> Sprite:
    W, H = 180, 200
    s = Sprite(W, H)
    sack = rng.random() < 0.2  # woven sack (编织袋), common for debris and recycling
    rx = rng.uniform(35, 60)
    ry = rx * rng.uniform(0.8, 1.3)
    cx, cy = W / 2, H - 6 - ry
    color = jitter(_pick(rng, SACK_COLORS if sack else BAG_COLORS), rng, 0.1)
    pts = blob((cx, cy), rx, ry, rng, 0.18 if not sack else 0.1, pear=rng.uniform(0.05, 0.3))
    pts[:, 1] = np.minimum(pts[:, 1], H - 5)  # the bag sags onto the ground
    s.poly(pts, color, shade=s.radial(cx - rx * 0.35, cy - ry * 0.4, max(rx, ry) * 1.6, 1.25, 0.55),
           texture=0.12 if sack else 0.05, rng=rng, texture_scale=0.8 if sack else 3.0)
    top = cy - ry * 0.95
    if not sack:  # knot and ears
        s.poly([(cx - rx * 0.12, top + 4), (cx + rx * 0.12, top + 4), (cx + rx * 0.06, top - ry * 0.25),
                (cx - rx * 0.06, top - ry * 0.25)], np.asarray(color) * 0.85)
        for side in (-1, 1):
            s.poly([(cx, top - ry * 0.2), (cx + side * rx * 0.35, top - ry * 0.45), (cx + side * rx * 0.2, top - ry * 0.15)],
                   np.asarray(color) * 0.95)
        lum = float(np.mean(color))
        for _ in range(int(rng.integers(2, 6))):  # glossy highlights and wrinkles
            a0 = rng.uniform(180, 330)
            pts_h = arc((cx, cy), (rx * rng.uniform(0.4, 0.85), ry * rng.uniform(0.4, 0.85)), a0, a0 + rng.uniform(20, 50), 10)
            hl = (0.9, 0.9, 0.9) if lum < 0.5 else np.asarray(color) * 0.6
            s.line(pts_h, hl, max(1, rx * 0.04), opacity=rng.uniform(0.2, 0.5))
    else:
        s.line([(cx - rx * 0.6, top + ry * 0.2), (cx + rx * 0.6, top + ry * 0.2)], np.asarray(color) * 0.7, 2)
    return s.cropped()


# -- debris ---------------------------------------------------------------------------------------

def draw_debris_pile(rng: np.random.Generator) -> Sprite:
    W, H = 320, 160
    s = Sprite(W, H)
    hw = rng.uniform(80, 150)
    hh = hw * rng.uniform(0.3, 0.75)
    cx, base = W / 2, H - 4
    xs = np.linspace(-1, 1, 40)
    p = rng.uniform(0.6, 1.4)
    top = base - hh * (1 - np.abs(xs) ** rng.uniform(1.5, 3)) ** p
    top = top + np.convolve(rng.normal(0, hh * 0.08, 40), np.ones(3) / 3, "same")
    bottom = base - np.abs(rng.normal(0, hh * 0.04, 40))
    pts = np.concatenate([np.stack([cx + xs * hw, top], 1), np.stack([cx + xs[::-1] * hw, bottom[::-1]], 1)])
    color = jitter(_pick(rng, DEBRIS_BASES), rng, 0.1)
    mask = s.poly_mask(pts)
    s.paint(mask, color, shade=s.vgrad(base - hh, base, 1.15, 0.7), texture=0.18, rng=rng, texture_scale=1.2)
    n = int(rng.integers(5, 40))
    ys, xs_ = np.nonzero(mask > 0.9)
    if len(xs_):
        for i in rng.integers(0, len(xs_), n):  # stones, brick ends, plastic, wood
            x, y = xs_[i], ys[i]
            r = rng.uniform(2, max(3, hh * 0.12))
            frag = blob((x, y), r * rng.uniform(0.8, 1.8), r, rng, 0.3, n=10)
            s.paint(s.poly_mask(frag) * mask, jitter(_pick(rng, FRAGMENT_COLORS), rng, 0.12), opacity=0.85,
                    shade=s.vgrad(y - r, y + r, 1.1, 0.75))
    return s.cropped()


# -- parasol --------------------------------------------------------------------------------------

def draw_parasol(rng: np.random.Generator) -> Sprite:
    W, H = 320, 360
    s = Sprite(W, H)
    R = rng.uniform(90, 140)
    cx = W / 2
    tilt = rng.uniform(0.25, 0.5)  # how flat the rim ellipse looks from the camera
    dome = R * rng.uniform(0.3, 0.55)
    pole_len = R * rng.uniform(1.0, 1.6)
    ground = H - 6
    rim_y = ground - pole_len
    apex = (cx + rng.uniform(-0.05, 0.05) * R, rim_y - dome)
    scheme = _pick(rng, PARASOL_SCHEMES)
    n = int(rng.integers(6, 11))
    pole_col = jitter(_pick(rng, [bgr("#eeeeee"), bgr("#9e9e9e"), bgr("#5d4037"), bgr("#212121")]), rng)
    s.line([(cx, rim_y - dome * 0.3), (cx, ground - 4)], pole_col, max(2, R * 0.035))
    if rng.random() < 0.7:  # weighted base
        s.ellipse((cx, ground - 4), (R * 0.18, R * 0.06), (0.15, 0.15, 0.15))
    rim = arc((cx, rim_y), (R, R * tilt), 0, 180, 6 * n)  # the front half of the rim, right to left
    # the back of the canopy: a dome shoulder from the apex to both rim ends
    left = arc((cx, rim_y), (R, dome * 1.05), 180, 360, 24)
    s.poly(np.concatenate([left, [(cx + R, rim_y)], [(cx - R, rim_y)]]), jitter(scheme[0], rng, 0.05),
           shade=s.vgrad(apex[1], rim_y, 1.15, 0.9))
    for i in range(n):  # front panels drawn over the back
        seg = rim[i * 6:(i + 1) * 6 + 1]
        col = jitter(scheme[i % len(scheme)], rng, 0.05)
        s.poly(np.concatenate([[apex], seg]), col,
               shade=s.vgrad(apex[1], rim_y + R * tilt, 1.1, 0.8) * s.hgrad(cx - R, cx + R, 1.05, 0.85))
    if rng.random() < 0.6:  # scalloped valance
        for i in range(n):
            x, y = rim[i * 6 + 3]
            s.ellipse((x, y), (R * 0.12, R * 0.05), jitter(scheme[(i + 1) % len(scheme)], rng, 0.05), start=0, end=180)
    return s.cropped()


# -- vendor stalls and carts ----------------------------------------------------------------------

def _goods(s: Sprite, rng: np.random.Generator, x0: float, x1: float, y: float, height: float) -> None:
    """Produce, boxes and packets piled on a counter or in a cargo box."""
    n = int(rng.integers(8, 30))
    for _ in range(n):
        x = rng.uniform(x0, x1)
        size = rng.uniform(0.05, 0.12) * (x1 - x0)
        yy = y - rng.uniform(0, height)
        col = jitter(_pick(rng, GOODS_COLORS), rng, 0.12)
        if rng.random() < 0.5:
            s.ellipse((x, yy), (size * 0.6, size * 0.5), col, shade=s.radial(x - size * 0.2, yy - size * 0.2, size))
        else:
            s.poly([(x - size, yy - size * 0.7), (x + size, yy - size * 0.7), (x + size, yy + size * 0.5),
                    (x - size, yy + size * 0.5)], col, shade=s.vgrad(yy - size, yy + size, 1.1, 0.8))


def _wheel(s: Sprite, x: float, y: float, r: float) -> None:
    s.ellipse((x, y), (r * 0.45, r), (0.06, 0.06, 0.06))
    s.ellipse((x, y), (r * 0.2, r * 0.45), (0.55, 0.55, 0.55))


def draw_vendor_stall(rng: np.random.Generator) -> Sprite:
    W, H = 380, 360
    s = Sprite(W, H)
    kind = _pick(rng, ["table", "tricycle", "cart"])
    ground = H - 6
    w = rng.uniform(150, 260)
    x0 = (W - w) / 2
    x1 = x0 + w
    depth = w * rng.uniform(0.12, 0.25)
    if kind == "table":
        top_y = ground - w * rng.uniform(0.35, 0.5)
        cloth = jitter(_pick(rng, GOODS_COLORS + [bgr("#f5f5f5"), bgr("#1e3a8a")]), rng)
        s.poly([(x0, top_y), (x1, top_y), (x1, ground - 3), (x0, ground - 3)], cloth,
               shade=s.vgrad(top_y, ground, 1.0, 0.75), texture=0.06, rng=rng)
        s.poly([(x0, top_y), (x1, top_y), (x1 - depth * 0.6, top_y - depth), (x0 + depth * 0.6, top_y - depth)],
               np.asarray(cloth) * 1.1)
        _goods(s, rng, x0 + 6, x1 - 6, top_y - 2, depth * 1.2)
        for _ in range(int(rng.integers(0, 4))):  # crates stacked by the table
            cw = w * rng.uniform(0.15, 0.25)
            cx = _pick(rng, [x0 - cw * 0.6, x1 + cw * 0.6])
            ch = cw * rng.uniform(0.6, 1.0)
            s.poly([(cx - cw / 2, ground - ch), (cx + cw / 2, ground - ch), (cx + cw / 2, ground), (cx - cw / 2, ground)],
                   jitter(_pick(rng, [bgr("#1565c0"), bgr("#e53935"), bgr("#b08a5a"), bgr("#43a047")]), rng),
                   shade=s.vgrad(ground - ch, ground, 1.05, 0.8), texture=0.05, rng=rng)
    elif kind == "tricycle":
        box_top = ground - w * rng.uniform(0.3, 0.42)
        box_bottom = ground - w * 0.12
        bx0, bx1 = x0, x0 + w * 0.7
        col = jitter(_pick(rng, [bgr("#1565c0"), bgr("#2e7d32"), bgr("#9e9e9e"), bgr("#c62828"), bgr("#455a64")]), rng)
        _wheel(s, bx0 + w * 0.1, ground - w * 0.08, w * 0.08)
        _wheel(s, bx1 - w * 0.1, ground - w * 0.08, w * 0.08)
        _wheel(s, x1 - w * 0.05, ground - w * 0.08, w * 0.08)
        s.poly([(bx0, box_top), (bx1, box_top), (bx1, box_bottom), (bx0, box_bottom)], col,
               shade=s.vgrad(box_top, box_bottom, 1.0, 0.75), texture=0.05, rng=rng)
        s.poly([(bx0, box_top), (bx1, box_top), (bx1 - depth * 0.4, box_top - depth), (bx0 + depth * 0.4, box_top - depth)],
               np.asarray(col) * 0.45)
        _goods(s, rng, bx0 + 4, bx1 - 4, box_top, depth * 1.6)
        frame_col = (0.12, 0.12, 0.12)
        s.line([(bx1, box_bottom), (x1 - w * 0.05, ground - w * 0.08)], frame_col, max(2, w * 0.015))
        s.line([(x1 - w * 0.05, ground - w * 0.08), (x1 - w * 0.08, box_top - depth * 0.8)], frame_col, max(2, w * 0.015))
        s.line([(x1 - w * 0.16, box_top - depth * 0.8), (x1, box_top - depth * 0.9)], frame_col, max(2, w * 0.012))
        if rng.random() < 0.4:  # a tarp roof on poles over the cargo box
            roof_y = box_top - w * rng.uniform(0.35, 0.5)
            for px in (bx0 + 3, bx1 - 3):
                s.line([(px, box_top), (px, roof_y)], (0.3, 0.3, 0.3), 2)
            s.poly([(bx0 - 6, roof_y), (bx1 + 6, roof_y), (bx1, roof_y - depth), (bx0, roof_y - depth)],
                   jitter(_pick(rng, [bgr("#1e88e5"), bgr("#f5f5f5"), bgr("#e53935"), bgr("#fb8c00")]), rng),
                   shade=0.95, texture=0.05, rng=rng)
    else:  # push cart with a glass display and a striped awning
        body_top = ground - w * rng.uniform(0.35, 0.45)
        col = jitter(_pick(rng, [bgr("#eeeeee"), bgr("#c62828"), bgr("#f9a825"), bgr("#5d4037"), bgr("#90a4ae")]), rng)
        _wheel(s, x0 + w * 0.15, ground - w * 0.07, w * 0.07)
        _wheel(s, x1 - w * 0.15, ground - w * 0.07, w * 0.07)
        s.poly([(x0, body_top), (x1, body_top), (x1, ground - w * 0.1), (x0, ground - w * 0.1)], col,
               shade=s.vgrad(body_top, ground, 1.0, 0.75), texture=0.04, rng=rng)
        glass_top = body_top - w * rng.uniform(0.18, 0.28)
        s.poly([(x0 + 4, glass_top), (x1 - 4, glass_top), (x1 - 4, body_top), (x0 + 4, body_top)], bgr("#bcd7e6"),
               opacity=0.75, shade=s.hgrad(x0, x1, 1.1, 0.85))
        _goods(s, rng, x0 + 8, x1 - 8, body_top - 2, (body_top - glass_top) * 0.7)
        roof_y = glass_top - w * rng.uniform(0.2, 0.35)
        for px in (x0 + 4, x1 - 4):
            s.line([(px, glass_top), (px, roof_y)], (0.35, 0.35, 0.35), 2)
        stripes = [jitter(c, rng, 0.05) for c in _pick(rng, PARASOL_SCHEMES[:4] + PARASOL_SCHEMES[9:])]
        n = int(rng.integers(5, 10))
        for i in range(n):
            a, b = x0 - 8 + (w + 16) * i / n, x0 - 8 + (w + 16) * (i + 1) / n
            s.poly([(a, roof_y), (b, roof_y), (b - depth * 0.3, roof_y - depth), (a - depth * 0.3, roof_y - depth)],
                   stripes[i % len(stripes)], shade=0.95)
            s.ellipse(((a + b) / 2, roof_y), ((b - a) / 2, depth * 0.25), stripes[i % len(stripes)], start=0, end=180)
    return s.cropped()


# -- shop-front goods and building material (issue 15: 店外经营, 乱堆物料) ------------------------------

CRATE_COLORS = [bgr(c) for c in ("#c68642", "#a0522d", "#1e88e5", "#43a047", "#e53935", "#f9a825", "#8d6e63")]
MATERIAL_COLORS = {"brick": [bgr(c) for c in ("#9c3b2b", "#b5523b", "#8a3324", "#a0a0a0")],
                   "board": [bgr(c) for c in ("#c8a165", "#b08d57", "#d9b77a", "#8d6e4e")],
                   "pipe": [bgr(c) for c in ("#9e9e9e", "#e0e0e0", "#546e7a", "#ef6c00")],
                   "block": [bgr(c) for c in ("#bdbdbd", "#9e9e9e", "#8d8d86")]}


def draw_goods_display(rng: np.random.Generator) -> Sprite:
    """Goods put out on the pavement in front of a shop: crates stacked one to three high, or a shelf rack,
    filled with produce, boxes and packets."""
    W, H = 360, 300
    s = Sprite(W, H)
    ground = H - 6
    if rng.random() < 0.6:  # crates in columns
        cols = int(rng.integers(1, 5))
        cw = rng.uniform(50, 80)
        x = W / 2 - cols * cw / 2
        for _ in range(cols):
            rows = int(rng.integers(1, 4))
            ch = cw * rng.uniform(0.45, 0.7)
            color = jitter(_pick(rng, CRATE_COLORS), rng, 0.1)
            for r in range(rows):
                y1 = ground - r * ch
                s.poly([(x + 2, y1 - ch + 2), (x + cw - 2, y1 - ch + 2), (x + cw - 2, y1), (x + 2, y1)], color,
                       shade=s.vgrad(y1 - ch, y1, 1.1, 0.75), texture=0.05, rng=rng)
                s.line([(x + 4, y1 - ch * 0.5), (x + cw - 4, y1 - ch * 0.5)], np.asarray(color) * 0.6, 2)
                _goods(s, rng, x + 6, x + cw - 6, y1 - ch + 6, ch * 0.3)
            x += cw
    else:  # a shelf rack with goods on each shelf
        rw, rh = rng.uniform(120, 220), rng.uniform(140, 240)
        x0, x1 = W / 2 - rw / 2, W / 2 + rw / 2
        frame = jitter(_pick(rng, [bgr("#9e9e9e"), bgr("#424242"), bgr("#eeeeee"), bgr("#1565c0")]), rng)
        for xx in (x0, x1):
            s.line([(xx, ground), (xx, ground - rh)], frame, max(2, rw * 0.025))
        shelves = int(rng.integers(2, 5))
        for k in range(shelves):
            y = ground - rh * (k + 0.3) / shelves
            s.line([(x0, y), (x1, y)], frame, max(2, rw * 0.02))
            _goods(s, rng, x0 + 4, x1 - 4, y - 2, rh / shelves * 0.4)
    return s.cropped()


def draw_material_pile(rng: np.random.Generator) -> Sprite:
    """Building material piled on a footway or road: stacked bricks or blocks, boards, or pipes."""
    W, H = 400, 220
    s = Sprite(W, H)
    ground = H - 6
    kind = _pick(rng, list(MATERIAL_COLORS))
    base = jitter(_pick(rng, MATERIAL_COLORS[kind]), rng, 0.08)
    width = rng.uniform(140, 340)
    x0 = W / 2 - width / 2
    if kind in ("brick", "block"):
        bw = rng.uniform(18, 30) * (1.6 if kind == "block" else 1.0)
        bh = bw * rng.uniform(0.35, 0.55)
        rows = int(rng.integers(3, 9))
        for r in range(rows):
            shrink = r * bw * rng.uniform(0.0, 0.3)  # stacks taper
            n = max(1, int((width - 2 * shrink) // bw))
            for c in range(n):
                x = x0 + shrink + c * bw + (r % 2) * bw * 0.5
                y = ground - r * bh
                s.poly([(x + 1, y - bh + 1), (x + bw - 1, y - bh + 1), (x + bw - 1, y), (x + 1, y)],
                       jitter(base, rng, 0.06), shade=s.vgrad(y - bh, y, 1.1, 0.8), texture=0.12, rng=rng)
    elif kind == "board":
        for k in range(int(rng.integers(4, 14))):
            y = ground - k * rng.uniform(5, 9)
            off = rng.uniform(-15, 15)
            s.poly([(x0 + off, y - 6), (x0 + width + off, y - 6), (x0 + width + off, y), (x0 + off, y)],
                   jitter(base, rng, 0.06), shade=s.vgrad(y - 6, y, 1.15, 0.8), texture=0.1, rng=rng)
    else:  # pipes: ends seen as circles, stacked in a triangle
        r = rng.uniform(8, 16)
        rows = int(rng.integers(2, 6))
        for row in range(rows):
            n = rows - row
            for c in range(n):
                cx = W / 2 - (n - 1) * r + c * 2 * r
                cy = ground - r - row * r * 1.7
                s.ellipse((cx, cy), (r, r), jitter(base, rng, 0.05), shade=s.radial(cx - r * 0.3, cy - r * 0.3, r))
                s.ellipse((cx, cy), (r * 0.6, r * 0.6), (0.08, 0.08, 0.08))
    return s.cropped()


DRAWERS: dict[str, Callable[[np.random.Generator], Sprite]] = {
    "vendor_stall": draw_vendor_stall,
    "parasol": draw_parasol,
    "bin": draw_bin,
    "overflowing_bin": draw_overflowing_bin,
    "debris_pile": draw_debris_pile,
    "garbage_bag": draw_garbage_bag,
    "goods_display": draw_goods_display,
    "material_pile": draw_material_pile,
}

# Typical height of each class in metres: with the scene's scale (pixels per metre at a given image row)
# this gives the sprite's height in pixels.
HEIGHT_M = {"vendor_stall": 1.3, "parasol": 2.3, "bin": 1.0, "overflowing_bin": 1.3, "debris_pile": 0.6,
            "garbage_bag": 0.6, "goods_display": 1.0, "material_pile": 0.7}

# The newer scenes' objects (issue 15), drawn in their own module.
from datasets.synthetic.scene_objects import SCENE_DRAWERS, SCENE_HEIGHT_M  # noqa: E402

DRAWERS.update(SCENE_DRAWERS)
HEIGHT_M.update(SCENE_HEIGHT_M)
