"""Evidence snapshots: JPEG encoding and the annotated view (zone + box + label) for reviewers."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

CONTENT_TYPE = "image/jpeg"

# BGR colours: a warm zone and a red box read well on grey street scenes
ZONE_COLOUR = (0, 200, 255)
BOX_COLOUR = (0, 0, 255)
TEXT_COLOUR = (255, 255, 255)
ZONE_ALPHA = 0.25  # fill opacity: the scene under the zone must stay visible
FONT = cv2.FONT_HERSHEY_SIMPLEX


def encode_jpeg(image_bgr: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of a BGR (or greyscale) uint8 image."""
    _check_image(image_bgr)
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1..100, got {quality}")
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """BGR image of JPEG bytes."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("not a JPEG image OpenCV can decode")
    return image


def annotate(
    image_bgr: np.ndarray,
    box_xyxy: Sequence[float],
    label: str,
    zone_polygon_px: Sequence[tuple[float, float]] | None = None,
) -> np.ndarray:
    """A copy of ``image_bgr`` with the zone (translucent fill + outline) and the labelled box.

    Line width and font size follow the image size, so 4K and 360p snapshots read alike.
    OpenCV's fonts are ASCII only: other characters of ``label`` are drawn as ``?``.
    """
    _check_image(image_bgr)
    out = image_bgr.copy() if image_bgr.ndim == 3 else cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    height, width = out.shape[:2]
    thickness = max(1, round(min(height, width) / 240))

    if zone_polygon_px is not None and len(zone_polygon_px) >= 3:
        pts = np.round(np.asarray(zone_polygon_px, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        fill = out.copy()
        cv2.fillPoly(fill, [pts], ZONE_COLOUR, lineType=cv2.LINE_AA)
        cv2.addWeighted(fill, ZONE_ALPHA, out, 1 - ZONE_ALPHA, 0, dst=out)
        cv2.polylines(out, [pts], True, ZONE_COLOUR, thickness, lineType=cv2.LINE_AA)

    x1, y1, x2, y2 = _clip_box(box_xyxy, width, height)
    cv2.rectangle(out, (x1, y1), (x2, y2), BOX_COLOUR, thickness, lineType=cv2.LINE_AA)
    if label:
        _draw_label(out, _ascii(label), x1, y1, thickness)
    return out


def crop_box(image_bgr: np.ndarray, box_xyxy: Sequence[float], margin: float = 0.1) -> np.ndarray:
    """A copy of the box's region grown by ``margin`` (a fraction of its width and height), clipped to the image:
    the close-up of the object (a vehicle's, for its plate)."""
    _check_image(image_bgr)
    height, width = image_bgr.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left, top, right, bottom = _clip_box((x1 - mx, y1 - my, x2 + mx, y2 + my), width, height)
    return image_bgr[top:bottom + 1, left:right + 1].copy()


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("expected a uint8 numpy image")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or image.size == 0:
        raise ValueError(f"expected an HxWx3 BGR or HxW grey image, got shape {image.shape}")


def _clip_box(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    if len(box) != 4:
        raise ValueError(f"box must be (x1, y1, x2, y2), got {box!r}")
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    x1, x2 = sorted((min(max(x1, 0), width - 1), min(max(x2, 0), width - 1)))
    y1, y2 = sorted((min(max(y1, 0), height - 1), min(max(y2, 0), height - 1)))
    return x1, y1, x2, y2


def _ascii(text: str) -> str:
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def _draw_label(image: np.ndarray, text: str, x1: int, y1: int, thickness: int) -> None:
    """The label on a filled tab above the box, or inside its top edge when there is no room."""
    height, width = image.shape[:2]
    scale = max(0.4, min(height, width) / 600)
    (tw, th), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    pad = max(2, thickness * 2)
    tab_h = th + baseline + 2 * pad
    top = y1 - tab_h if y1 - tab_h >= 0 else min(y1, max(0, height - tab_h))
    left = min(x1, max(0, width - tw - 2 * pad))
    cv2.rectangle(image, (left, top), (left + tw + 2 * pad, top + tab_h), BOX_COLOUR, cv2.FILLED)
    cv2.putText(
        image, text, (left + pad, top + pad + th), FONT, scale, TEXT_COLOUR, thickness, cv2.LINE_AA
    )
