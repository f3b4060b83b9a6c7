"""Renders test videos with exact ground truth: things appear, stay, move and leave on a real street plate.

The plate is the median of frames of OpenCV's `vtest` clip (the walkers vanish, the street stays); the
white van and the pedestrians are cut out of that footage (pixels that differ from the plate), so the real
NanoDet recognises them. Debris (a bag, a carton) and bins are drawn. Every scenario writes
``<name>.mp4``, ``<name>.json`` (our annotation format: what an inspector would label) and, where it has
objects the COCO detector cannot see (umbrellas, tables, bicycles), ``<name>.detections.json``: the exact
boxes the renderer drew, replayed by `streetsight eval --detections` in place of the model.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import av
import cv2
import numpy as np

from tests.media import encode_h264

W, H, FPS = 768, 576, 10
VAN_BOX = (646, 38, 730, 104)  # the parked van in vtest, with a margin of road around it
PERSON_CROPS = [(0, (249, 216, 287, 312)), (700, (100, 281, 147, 400)), (700, (679, 212, 738, 310))]


@lru_cache(maxsize=2)
def vtest_frames(path: str) -> dict[int, np.ndarray]:
    """A few frames of vtest: every 40th (for the plate) and those the person crops come from."""
    wanted = set(range(0, 795, 40)) | {i for i, _ in PERSON_CROPS}
    out = {}
    with av.open(path) as c:
        for i, f in enumerate(c.decode(c.streams.video[0])):
            if i in wanted:
                out[i] = f.to_ndarray(format="bgr24")
    return out


@lru_cache(maxsize=2)
def plate(path: str) -> np.ndarray:
    frames = vtest_frames(path)
    return np.median(np.stack([frames[i] for i in range(0, 795, 40)]), axis=0).astype(np.uint8)


@dataclass
class Sprite:
    image: np.ndarray  # BGR
    mask: np.ndarray  # float 0..1, same size

    def scaled(self, factor: float) -> "Sprite":
        size = (max(1, int(self.image.shape[1] * factor)), max(1, int(self.image.shape[0] * factor)))
        return Sprite(cv2.resize(self.image, size, interpolation=cv2.INTER_LINEAR),
                      cv2.resize(self.mask, size, interpolation=cv2.INTER_LINEAR))


def cutout(frame: np.ndarray, background: np.ndarray, box: tuple[int, int, int, int], thr: float = 28) -> Sprite:
    x1, y1, x2, y2 = box
    crop, bg = frame[y1:y2, x1:x2], background[y1:y2, x1:x2]
    diff = np.abs(crop.astype(np.float32) - bg.astype(np.float32)).max(axis=2)
    mask = cv2.morphologyEx((diff > thr).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    mask = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)
    return Sprite(crop.copy(), mask)


def van_sprite(vtest: str) -> Sprite:
    x1, y1, x2, y2 = VAN_BOX
    img = plate(vtest)[y1:y2, x1:x2].copy()
    mask = np.zeros(img.shape[:2], np.float32)
    mask[4:-4, 4:-4] = 1.0  # the van with a little road: enough context for the detector
    return Sprite(img, cv2.GaussianBlur(mask, (5, 5), 0))


def person_sprites(vtest: str) -> list[Sprite]:
    frames, bg = vtest_frames(vtest), plate(vtest)
    return [cutout(frames[i], bg, box) for i, box in PERSON_CROPS]


def bag_sprite(seed: int = 0, size: tuple[int, int] = (44, 30)) -> Sprite:
    """A black rubbish bag with a white carton beside it: what gets dumped at a kerb."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(img, (w // 3, h // 2), (w // 3, h // 2 - 1), 0, 0, 360, (35, 35, 40), -1)
    cv2.ellipse(mask, (w // 3, h // 2), (w // 3, h // 2 - 1), 0, 0, 360, 1.0, -1)
    cv2.ellipse(img, (w // 4, h // 3), (w // 10, h // 8), 30, 0, 360, (90, 90, 95), -1)  # a highlight
    cv2.rectangle(img, (w // 2 + 2, h // 4), (w - 2, h - 2), (215, 225, 230), -1)
    cv2.rectangle(mask, (w // 2 + 2, h // 4), (w - 2, h - 2), 1.0, -1)
    cv2.line(img, (w // 2 + 2, h // 2), (w - 2, h // 2), (120, 150, 170), 2)
    img = np.clip(img.astype(np.int16) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    return Sprite(img, cv2.GaussianBlur(mask, (3, 3), 0))


def bin_image(full: bool, seed: int, size: tuple[int, int] = (60, 84), body=(40, 110, 40)) -> np.ndarray:
    """A street bin seen from the front: lid shut when not full; bags heaped over the rim when full."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.full((h, w, 3), 120, np.uint8)  # pavement
    img = np.clip(img.astype(np.int16) + rng.integers(-10, 11, img.shape), 0, 255).astype(np.uint8)
    top = int(h * 0.35)
    cv2.rectangle(img, (6, top), (w - 7, h - 3), body, -1)
    cv2.rectangle(img, (6, top), (w - 7, h - 3), (20, 50, 20), 1)
    for x in range(12, w - 12, 8):
        cv2.line(img, (x, top + 6), (x, h - 8), tuple(int(c * 0.8) for c in body), 1)
    if not full:
        cv2.rectangle(img, (4, top - 6), (w - 5, top), tuple(int(c * 0.7) for c in body), -1)  # the lid
        return img
    colours = [(30, 30, 30), (210, 210, 215), (160, 90, 40), (40, 60, 150), (50, 170, 200)]
    for _ in range(int(rng.integers(6, 10))):
        cx = int(rng.integers(8, w - 8))
        cy = int(rng.integers(max(4, top - 22), top + 6))
        ax, ay = int(rng.integers(6, 12)), int(rng.integers(5, 9))
        colour = colours[int(rng.integers(len(colours)))]
        cv2.ellipse(img, (cx, cy), (ax, ay), float(rng.integers(0, 180)), 0, 360, colour, -1)
    for _ in range(int(rng.integers(1, 4))):  # and some beside it on the ground
        cx, cy = int(rng.integers(4, w - 4)), int(rng.integers(h - 10, h - 2))
        cv2.ellipse(img, (cx, cy), (6, 4), 0, 0, 360, colours[int(rng.integers(len(colours)))], -1)
    return img


BIN_BODIES = [(40, 110, 40), (140, 90, 30), (90, 90, 90)]


def bin_crops(n_per_state: int, seed: int = 100, bodies=BIN_BODIES) -> tuple[list[np.ndarray], list[bool]]:
    """Crops as a camera would give them: varied light, noise, a shift of a few pixels, JPEG, bin colours."""
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for k in range(2 * n_per_state):
        full = k % 2 == 0
        img = bin_image(full, seed + k, body=bodies[int(rng.integers(len(bodies)))])
        img = np.clip(img.astype(np.float32) * rng.uniform(0.6, 1.3) + rng.normal(0, 4, img.shape), 0, 255)
        img = np.roll(img.astype(np.uint8), (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 90))])
        crops.append(cv2.imdecode(jpg, cv2.IMREAD_COLOR))
        labels.append(full)
    return crops, labels


# -- scenes ----------------------------------------------------------------------------------------

Path2D = Callable[[float], tuple[float, float]]  # time -> top-left (x, y) in pixels


def still(x: float, y: float) -> Path2D:
    return lambda t: (x, y)


def walk(start: tuple[float, float], end: tuple[float, float], t0: float, t1: float) -> Path2D:
    def at(t: float) -> tuple[float, float]:
        a = min(1.0, max(0.0, (t - t0) / max(t1 - t0, 1e-6)))
        return start[0] + a * (end[0] - start[0]), start[1] + a * (end[1] - start[1])
    return at


@dataclass
class Actor:
    sprite: Sprite | Callable[[float], Sprite]
    path: Path2D
    t0: float
    t1: float

    def sprite_at(self, t: float) -> Sprite:
        return self.sprite(t) if callable(self.sprite) else self.sprite


@dataclass
class Scene:
    background: np.ndarray
    actors: list[Actor] = field(default_factory=list)
    jitter_px: int = 0
    gain: Callable[[float], float] = lambda t: 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self._base = self.background.astype(np.float32)
        self._noise = [rng.normal(0, 2.0, self.background.shape).astype(np.float32) for _ in range(7)]

    def draw(self, i: int, t: float) -> np.ndarray:
        img = self._base.copy()
        for a in self.actors:
            if a.t0 <= t < a.t1:
                s = a.sprite_at(t)
                x, y = (int(round(v)) for v in a.path(t))
                h, w = s.mask.shape
                x0, y0, x1, y1 = max(0, x), max(0, y), min(img.shape[1], x + w), min(img.shape[0], y + h)
                if x1 <= x0 or y1 <= y0:
                    continue
                m = s.mask[y0 - y:y1 - y, x0 - x:x1 - x, None]
                img[y0:y1, x0:x1] = m * s.image[y0 - y:y1 - y, x0 - x:x1 - x] + (1 - m) * img[y0:y1, x0:x1]
        gain = self.gain(t)
        if gain != 1.0:
            img *= gain
        img += self._noise[i % len(self._noise)]  # sensor noise: no two consecutive frames alike
        out = np.clip(img, 0, 255).astype(np.uint8)
        if self.jitter_px:
            rng = np.random.default_rng(self.seed * 100003 + i)
            dx, dy = (int(v) for v in rng.integers(-self.jitter_px, self.jitter_px + 1, 2))
            out = cv2.warpAffine(out, np.float32([[1, 0, dx], [0, 1, dy]]), (out.shape[1], out.shape[0]),
                                 borderMode=cv2.BORDER_REPLICATE)
        return out


def write_scenario(out_dir: Path, name: str, scene: Scene, seconds: float, events: Sequence[dict],
                   detections: list[dict] | None = None, fps: int = FPS) -> Path:
    """Render ``name``.mp4 and its annotation (events: type, start_s, end_s, box in pixels)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    video = encode_h264(out_dir / f"{name}.mp4", seconds=seconds, fps=fps, size=(scene.background.shape[1],
                        scene.background.shape[0]), gop=2 * fps, frame_fn=scene.draw)
    annotation = {"video": video.name, "frame_size": [scene.background.shape[1], scene.background.shape[0]],
                  "events": [dict(e) for e in events]}
    (out_dir / f"{name}.json").write_text(json.dumps(annotation, indent=1), encoding="utf-8")
    if detections is not None:
        (out_dir / f"{name}.detections.json").write_text(json.dumps({"frames": detections}), encoding="utf-8")
    return video


def scripted_frames(seconds: float, fps: float, objects: Sequence[dict]) -> list[dict]:
    """Detections at ``fps`` for objects ``{"class", "score", "t0", "t1", "box": fn(t) or list}``."""
    frames = []
    for k in range(int(seconds * fps)):
        t = k / fps
        dets = []
        for o in objects:
            if o["t0"] <= t < o["t1"]:
                box = o["box"](t) if callable(o["box"]) else o["box"]
                dets.append({"class": o["class"], "score": o["score"], "box": [round(float(v), 1) for v in box]})
        frames.append({"t": round(t, 3), "detections": dets})
    return frames
