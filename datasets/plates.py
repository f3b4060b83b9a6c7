"""Rendered Chinese licence plates on vehicle crops: test data for plate reading (tests and the plate bench).

Blue plates (440x140 mm: province, letter, dot, 5 characters; white on blue) and new-energy green plates
(480x140 mm: province, letter, dot, 6 characters; black on a green-to-white gradient) are drawn with a CJK font
from Debian (`fonts-wqy-zenhei`, or `fonts-noto-cjk`), then scaled to a given plate height and put low on a
vehicle crop (the parked van of OpenCV's vtest street clip, scaled up, or any crop handed in).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vision.plates import PROVINCES

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O
ALNUM = LETTERS + "0123456789"
Style = Literal["blue", "green"]
RENDER_H = 140  # plates are drawn at 1 px per mm, then scaled


class NoCjkFont(RuntimeError):
    pass


def cjk_font_path() -> Path:
    for p in FONT_CANDIDATES:
        if Path(p).is_file():
            return Path(p)
    raise NoCjkFont("no CJK font: install Debian's fonts-wqy-zenhei (or fonts-noto-cjk)")


@dataclass(frozen=True)
class PlateSpec:
    text: str  # e.g. 鄂A12345 (blue) or 鄂AD12345 (green)
    style: Style


def random_plate(rng: np.random.Generator, style: Style) -> PlateSpec:
    province = PROVINCES[rng.integers(len(PROVINCES))]
    letter = LETTERS[rng.integers(len(LETTERS))]
    if style == "green":  # small new-energy cars: D (electric) or F (hybrid) then 5 more
        tail = "DF"[rng.integers(2)] + "".join(ALNUM[i] for i in rng.integers(len(ALNUM), size=5))
    else:
        tail = "".join(ALNUM[i] for i in rng.integers(len(ALNUM), size=5))
    return PlateSpec(province + letter + tail, style)


def render_plate(spec: PlateSpec, font_path: Path | None = None) -> np.ndarray:
    """The plate at 140 px high (BGR)."""
    font_path = font_path or cjk_font_path()
    width = 480 if spec.style == "green" else 440
    if spec.style == "green":
        top, bottom = np.array([120, 215, 140]), np.array([235, 250, 240])  # RGB gradient, green to white
        ramp = np.linspace(0, 1, RENDER_H)[:, None, None]
        bg = (top * (1 - ramp) + bottom * ramp).astype(np.uint8).repeat(width, axis=1)
        ink, border = (0, 0, 0), (60, 60, 60)
    else:
        bg = np.zeros((RENDER_H, width, 3), np.uint8)
        bg[:] = (10, 70, 190)
        ink, border = (255, 255, 255), (255, 255, 255)
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((4, 4, width - 5, RENDER_H - 5), radius=10, outline=border, width=3)
    font = ImageFont.truetype(str(font_path), 90)
    chars = list(spec.text)
    n = len(chars)
    slot = (width - 40) / (n + 0.5)  # the dot takes half a slot after the second character
    x = 20.0
    for i, ch in enumerate(chars):
        if i == 2:
            draw.ellipse((x + slot * 0.15, 64, x + slot * 0.35, 76), fill=ink)
            x += slot * 0.5
        l, t, r, b = draw.textbbox((0, 0), ch, font=font)
        sx = slot * 0.86 / max(1, r - l)
        glyph = Image.new("L", (r - l + 4, b - t + 4), 0)
        ImageDraw.Draw(glyph).text((2 - l, 2 - t), ch, font=font, fill=255)
        glyph = glyph.resize((max(1, int(glyph.width * min(sx, 1.0))), 96))  # characters are 90x45 mm-ish
        img.paste(Image.new("RGB", glyph.size, ink), (int(x + (slot - glyph.width) / 2), 22), glyph)
        x += slot
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def vtest_vehicle(frame_path: Path) -> np.ndarray:
    """The parked van of vtest's frame 100 (its truck box in tests/data/nanodet_reference.json), BGR."""
    frame = cv2.imread(str(frame_path))
    if frame is None:
        raise FileNotFoundError(frame_path)
    return frame[43:98, 651:725].copy()


def plate_on_vehicle(spec: PlateSpec, plate_h: int, vehicle: np.ndarray, rng: np.random.Generator,
                     jpeg_quality: int = 85) -> np.ndarray:
    """A vehicle crop (scaled so the plate is about a quarter of its width) with the plate ``plate_h`` px high
    low in the middle, slightly blurred, noisy and JPEG-compressed like a camera frame."""
    plate = render_plate(spec)
    pw = round(plate.shape[1] * plate_h / RENDER_H)
    plate = cv2.resize(plate, (pw, plate_h), interpolation=cv2.INTER_AREA)
    vw = max(pw * 4, 64)
    vh = round(vw * vehicle.shape[0] / vehicle.shape[1])
    canvas = cv2.resize(vehicle, (vw, vh), interpolation=cv2.INTER_LINEAR)
    x = (vw - pw) // 2 + int(rng.integers(-pw // 8, pw // 8 + 1))
    y = int(vh * 0.72) - plate_h // 2
    y = min(max(0, y), vh - plate_h)
    canvas[y:y + plate_h, x:x + pw] = plate
    canvas = cv2.GaussianBlur(canvas, (3, 3), 0.6)
    noise = rng.normal(0, 3, canvas.shape)
    canvas = np.clip(canvas.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


VAN_REGION = (560, 0, 768, 117)  # x1, y1, x2, y2 of vtest's frames around the parked van (16:9)
VAN_BOX = (651, 43, 725, 98)  # the van in those frames


def parked_van_video(vtest: Path, out: Path, spec: PlateSpec, plate_h: int, seconds: float = 14.0,
                     scale: int = 6, fps: int = 10) -> Path:
    """A close camera on vtest's parked van: the footage's top-right corner scaled ``scale`` times, the rendered
    plate (``plate_h`` px high in the output) on the van's rear, as H.264 MP4 (PyAV). People still walk by."""
    import av
    from fractions import Fraction

    x1, y1, x2, y2 = VAN_REGION
    w, h = (x2 - x1) * scale // 16 * 16, (y2 - y1) * scale // 16 * 16
    plate = render_plate(spec)
    pw = round(plate.shape[1] * plate_h / RENDER_H)
    plate = cv2.resize(plate, (pw, plate_h), interpolation=cv2.INTER_AREA)
    vx1, vy1, vx2, vy2 = ((VAN_BOX[0] - x1) * scale, (VAN_BOX[1] - y1) * scale,
                          (VAN_BOX[2] - x1) * scale, (VAN_BOX[3] - y1) * scale)
    px, py = (vx1 + vx2 - pw) // 2, int(vy1 + (vy2 - vy1) * 0.72) - plate_h // 2
    n = int(seconds * fps)
    with av.open(str(vtest)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"g": str(fps), "bf": "0", "preset": "ultrafast", "crf": "20"}
        src_fps = float(src.streams.video[0].average_rate or 10)
        step = max(1, round(src_fps / fps))
        i = 0
        for k, frame in enumerate(src.decode(video=0)):
            if k % step:
                continue
            img = frame.to_ndarray(format="bgr24")[y1:y2, x1:x2]
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
            img[py:py + plate_h, px:px + pw] = plate
            vf = av.VideoFrame.from_ndarray(img, format="bgr24")
            vf.pts = i
            for packet in stream.encode(vf):
                dst.mux(packet)
            i += 1
            if i >= n:
                break
        for packet in stream.encode(None):
            dst.mux(packet)
    return out
