"""Composite procedural objects onto a real street frame, with the labels of what stays visible.

Scene model: a ground plane seen from a raised camera, so an object's size in pixels grows with the image
row it stands on (``pixels_per_metre`` rises linearly from the horizon down). Each object gets: a size from
its class's real height, a perspective warp (camera above: the top edge narrows), a small rotation, light
matched to the spot it stands on, a soft ground shadow, per-object defocus, and sometimes an occluder (a
pole, or a piece of the background standing in front). Nearer objects are drawn last and hide farther
ones; each label is the box of the pixels that remain visible. Then the whole frame gets a camera's
faults: exposure and gamma, sensor noise, blur, motion blur, a lower resolution.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from datasets.synthetic.draw import Sprite, bgr
from datasets.synthetic.objects import CLASSES, DRAWERS, HEIGHT_M

MIN_BOX_PX = 6  # labels smaller than this (either side) are dropped: too small to learn from
MIN_VISIBLE = 0.25  # an object hidden more than this is dropped from the labels


@dataclass
class SceneOptions:
    classes: Sequence[str] = tuple(CLASSES)
    max_objects: int = 6
    background_only: float = 0.08  # share of frames with no object (background images)
    occlusion: float = 0.25  # chance that an object gets an occluder
    distractors: float = 0.35  # chance of unlabelled look-alikes (cones, sign posts)
    shadows: float = 0.8  # chance that an object casts a soft ground shadow
    defocus: float = 0.5  # chance that an object is slightly out of focus
    near_height: tuple[float, float] = (0.10, 0.30)  # a 1 m object at the bottom row, as a share of frame height


@dataclass
class Placed:
    name: str
    x0: int
    y0: int
    alpha: np.ndarray  # coverage of this object within its region
    hidden: np.ndarray = field(init=False)  # share of coverage hidden by things in front

    def __post_init__(self) -> None:
        self.hidden = np.zeros_like(self.alpha)

    def occlude(self, x0: int, y0: int, mask: np.ndarray) -> None:
        """Another layer (``mask`` at x0, y0 in image coordinates) drawn in front of this object."""
        h, w = self.alpha.shape
        ax0, ay0 = max(self.x0, x0), max(self.y0, y0)
        ax1, ay1 = min(self.x0 + w, x0 + mask.shape[1]), min(self.y0 + h, y0 + mask.shape[0])
        if ax0 >= ax1 or ay0 >= ay1:
            return
        mine = self.hidden[ay0 - self.y0:ay1 - self.y0, ax0 - self.x0:ax1 - self.x0]
        theirs = mask[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0]
        mine += theirs * (1 - mine)

    def label(self) -> tuple[str, tuple[float, float, float, float]] | None:
        visible = self.alpha * (1 - self.hidden)
        full = float((self.alpha > 0.5).sum())
        ys, xs = np.nonzero(visible > 0.5)
        if full == 0 or len(xs) < MIN_VISIBLE * full:
            return None
        x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
            return None
        return self.name, (float(self.x0 + x1), float(self.y0 + y1), float(self.x0 + x2), float(self.y0 + y2))


# -- sprite transforms ----------------------------------------------------------------------------

def resize_sprite(s: Sprite, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied resize, so edges do not pick up the canvas' black."""
    interp = cv2.INTER_AREA if width < s.w else cv2.INTER_LINEAR
    pre = cv2.resize(s.rgb * s.alpha[..., None], (width, height), interpolation=interp)
    alpha = cv2.resize(s.alpha, (width, height), interpolation=interp)
    rgb = pre / np.maximum(alpha[..., None], 1e-4)
    return np.clip(rgb, 0, 1), np.clip(alpha, 0, 1)


def perspective(rgb: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Camera above: the top narrows; plus shear and a small roll about the bottom centre."""
    h, w = alpha.shape
    inset = w * rng.uniform(0.0, 0.09)
    shear = h * rng.uniform(-0.08, 0.08)
    roll = np.radians(rng.uniform(-4, 4))
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[inset + shear, 0], [w - inset + shear, 0], [w, h], [0, h]])
    c, s_ = np.cos(roll), np.sin(roll)
    pivot = np.float32([w / 2, h])
    dst = (dst - pivot) @ np.float32([[c, -s_], [s_, c]]).T + pivot
    x0, y0 = np.floor(dst.min(0)).astype(int)
    x1, y1 = np.ceil(dst.max(0)).astype(int)
    dst -= np.float32([x0, y0])
    m = cv2.getPerspectiveTransform(src, dst)
    size = (int(x1 - x0) + 1, int(y1 - y0) + 1)
    rgb_w = cv2.warpPerspective(rgb, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha_w = cv2.warpPerspective(alpha, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return rgb_w, alpha_w


def match_light(rgb: np.ndarray, alpha: np.ndarray, patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Bring the sprite towards the exposure and colour cast of the background where it stands."""
    sel = alpha > 0.5
    if not sel.any() or patch.size == 0:
        return rgb
    bg_mean = patch.reshape(-1, 3).mean(0) + 1e-3
    obj_lum = float(rgb[sel].mean()) + 1e-3
    gain = float(np.clip((bg_mean.mean() / obj_lum) ** rng.uniform(0.2, 0.5), 0.55, 1.5)) * rng.uniform(0.85, 1.15)
    cast = (bg_mean / bg_mean.mean()) ** rng.uniform(0.15, 0.4)
    return np.clip(rgb * gain * cast[None, None, :], 0, 1)


# -- the scene ------------------------------------------------------------------------------------

class Scene:
    def __init__(self, background: np.ndarray, rng: np.random.Generator, opts: SceneOptions) -> None:
        self.bg = background.astype(np.float32) / 255
        self.img = self.bg.copy()
        self.h, self.w = background.shape[:2]
        self.rng = rng
        self.opts = opts
        self.horizon = self.h * rng.uniform(0.0, 0.3)
        self.near_ppm = self.h * rng.uniform(*opts.near_height)  # pixels per metre at the bottom row
        self.placed: list[Placed] = []

    def ppm(self, y: float) -> float:
        t = (y - self.horizon) / max(self.h - self.horizon, 1)
        return self.near_ppm * float(np.clip(0.15 + 0.85 * t, 0.05, 1.0))

    def _paste(self, rgb: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> tuple[int, int, np.ndarray] | None:
        h, w = alpha.shape
        ix0, iy0, ix1, iy1 = max(0, x0), max(0, y0), min(self.w, x0 + w), min(self.h, y0 + h)
        if ix0 >= ix1 or iy0 >= iy1:
            return None
        a = alpha[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
        c = rgb[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
        region = self.img[iy0:iy1, ix0:ix1]
        region[:] = region * (1 - a[..., None]) + c * a[..., None]
        for p in self.placed:
            p.occlude(ix0, iy0, a)
        return ix0, iy0, a.copy()

    def _shadow(self, cx: float, base: float, width: float) -> None:
        rng = self.rng
        strength = rng.uniform(0.15, 0.45)
        axes = (max(2, width * rng.uniform(0.45, 0.65)), max(1, width * rng.uniform(0.06, 0.14)))
        dx = width * rng.uniform(-0.2, 0.2)
        pad = int(axes[0] * 1.5) + 4
        x0, y0 = int(cx - pad), int(base - pad)
        mask = np.zeros((2 * pad, 2 * pad), np.float32)
        cv2.ellipse(mask, (pad + int(dx), pad), (int(axes[0]), int(axes[1])), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, axes[1] * 0.6)) * strength
        ix0, iy0 = max(0, x0), max(0, y0)
        ix1, iy1 = min(self.w, x0 + 2 * pad), min(self.h, y0 + 2 * pad)
        if ix0 < ix1 and iy0 < iy1:
            m = mask[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
            self.img[iy0:iy1, ix0:ix1] *= (1 - m)[..., None]

    def add_object(self, name: str, foot_x: float, foot_y: float, label: bool = True,
                   sprite: Sprite | None = None, height_m: float | None = None) -> Placed | None:
        rng = self.rng
        s = sprite if sprite is not None else DRAWERS[name](rng)
        height = (height_m or HEIGHT_M[name]) * self.ppm(foot_y) * rng.uniform(0.8, 1.25)
        height = max(4, int(round(height)))
        width = max(4, int(round(s.w * height / s.h * rng.uniform(0.85, 1.15))))
        if width > self.w * 0.9 and s.w > 2 * s.h:  # a long vehicle near the camera: shrunk to fit, not dropped
            height, width = max(4, int(height * self.w * 0.9 / width)), int(self.w * 0.9)
        if width > self.w * 0.9:
            return None
        rgb, alpha = resize_sprite(s, width, height)
        rgb, alpha = perspective(rgb, alpha, rng)
        h, w = alpha.shape
        x0, y0 = int(round(foot_x - w / 2)), int(round(foot_y - h))
        patch = self.bg[max(0, y0):max(0, y0 + h), max(0, x0):max(0, x0 + w)]
        rgb = match_light(rgb, alpha, patch, rng)
        if rng.random() < self.opts.defocus:
            sigma = rng.uniform(0.3, 1.1)
            rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
            alpha = cv2.GaussianBlur(alpha, (0, 0), sigma)
        if rng.random() < self.opts.shadows:
            self._shadow(foot_x, foot_y, w)
        pasted = self._paste(rgb, alpha, x0, y0)
        if pasted is None:
            return None
        placed = Placed(name, *pasted)
        if label:
            self.placed.append(placed)
        if rng.random() < self.opts.occlusion:
            self._occlude(x0, y0, w, h)
        return placed

    def _occlude(self, x0: int, y0: int, w: int, h: int) -> None:
        rng = self.rng
        if rng.random() < 0.4:  # a pole or a post in front
            pw = max(2, int(w * rng.uniform(0.05, 0.14)))
            px = int(x0 + rng.uniform(0.1, 0.9) * w)
            py0 = int(y0 - h * rng.uniform(0.2, 1.5))
            col = np.asarray(bgr(["#8a8a8a", "#3a3a3a", "#c0c0c0", "#2f4f2f"][int(rng.integers(4))]), np.float32)
            rgb = np.broadcast_to(col, (y0 + h - py0 + 2, pw, 3)).copy()
            rgb *= np.linspace(0.8, 1.1, pw, dtype=np.float32)[None, :, None]
            alpha = np.ones(rgb.shape[:2], np.float32)
            self._paste(rgb, alpha, px, py0)
        else:  # a piece of the scene (someone, something) in front of one side of the object
            side = ["left", "right", "bottom"][int(rng.integers(3))]
            frac = rng.uniform(0.15, 0.45)
            ow, oh = (int(w * frac), h) if side != "bottom" else (w, int(h * frac))
            ox = x0 if side != "right" else x0 + w - ow
            oy = y0 if side != "bottom" else y0 + h - oh
            sx = int(rng.integers(0, max(1, self.w - ow)))
            sy = int(rng.integers(0, max(1, self.h - oh)))
            rgb = self.bg[sy:sy + oh, sx:sx + ow]
            if rgb.shape[0] < 2 or rgb.shape[1] < 2:
                return
            alpha = np.ones(rgb.shape[:2], np.float32)
            edge = max(1, min(rgb.shape[:2]) // 8)
            alpha = cv2.GaussianBlur(alpha, (0, 0), edge) if edge > 1 else alpha
            self._paste(rgb.copy(), alpha, ox, oy)

    def add_distractor(self) -> None:
        """Unlabelled things that are not our classes: traffic cones and sign posts."""
        rng = self.rng
        y = rng.uniform(self.horizon + 0.15 * self.h, self.h)
        x = rng.uniform(0, self.w)
        s = Sprite(120, 220)
        if rng.random() < 0.5:
            s.poly([(60, 20), (90, 200), (30, 200)], bgr("#ff6d00"), shade=s.hgrad(30, 90, 1.1, 0.8))
            s.poly([(49, 90), (71, 90), (76, 125), (44, 125)], (0.95, 0.95, 0.95))
            s.poly([(15, 200), (105, 200), (105, 214), (15, 214)], (0.12, 0.12, 0.12))
            height_m = 0.7
        else:
            s.line([(60, 60), (60, 216)], (0.55, 0.55, 0.55), 5)
            col = bgr(["#1565c0", "#2e7d32", "#f5f5f5", "#c62828"][int(rng.integers(4))])
            s.poly([(20, 10), (100, 10), (100, 70), (20, 70)], col, shade=0.95)
            height_m = 2.2
        self.add_object("distractor", x, y, label=False, sprite=s.cropped(), height_m=height_m)

    def labels(self) -> list[tuple[str, tuple[float, float, float, float]]]:
        return [lab for p in self.placed if (lab := p.label()) is not None]


def camera_faults(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure, gamma, noise, blur, motion blur and lost resolution, on a float BGR image in 0..1."""
    img = np.clip(img * rng.uniform(0.75, 1.2) + rng.uniform(-0.05, 0.05), 0, 1) ** rng.uniform(0.8, 1.25)
    img = img * (1 + rng.normal(0, 0.03, 3))[None, None, :]  # white balance
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.2))
    if rng.random() < 0.1:
        k = int(rng.integers(3, 8))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    if rng.random() < 0.2:
        h, w = img.shape[:2]
        f = rng.uniform(0.5, 0.8)
        img = cv2.resize(cv2.resize(img, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA), (w, h),
                         interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(0.005, 0.025), img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def compose(background: np.ndarray, rng: np.random.Generator, opts: SceneOptions | None = None
            ) -> tuple[np.ndarray, list[tuple[str, tuple[float, float, float, float]]]]:
    """One synthetic frame: (BGR uint8 image, [(class name, (x1, y1, x2, y2) pixels)])."""
    opts = opts or SceneOptions()
    scene = Scene(background, rng, opts)
    n = 0 if rng.random() < opts.background_only else int(rng.integers(1, opts.max_objects + 1))
    plan: list[tuple[str, float, float]] = []
    for _ in range(n):
        name = opts.classes[int(rng.integers(len(opts.classes)))]
        foot_y = rng.uniform(scene.horizon + 0.12 * scene.h, scene.h * 1.02)
        foot_x = rng.uniform(-0.05, 1.05) * scene.w
        plan.append((name, foot_x, foot_y))
        if name == "vendor_stall" and "parasol" in opts.classes and rng.random() < 0.35:
            plan.append(("parasol", foot_x + rng.uniform(-0.3, 0.3) * scene.ppm(foot_y), foot_y - 0.2 * scene.ppm(foot_y)))
        if name in ("bin", "overflowing_bin") and "garbage_bag" in opts.classes and rng.random() < 0.3:
            side = rng.choice([-1, 1])
            plan.append(("garbage_bag", foot_x + side * 0.7 * scene.ppm(foot_y), foot_y + 0.05 * scene.ppm(foot_y)))
    if rng.random() < opts.distractors:
        for _ in range(int(rng.integers(1, 3))):
            scene.add_distractor()
    for name, x, y in sorted(plan, key=lambda p: p[2]):  # far (higher in the frame) first
        scene.add_object(name, x, y)
    img = camera_faults(scene.img, rng)
    return (img * 255 + 0.5).astype(np.uint8), scene.labels()
