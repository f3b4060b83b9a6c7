"""Face blurring for the copy of evidence shared outside (the dispatch system); the original is kept.

Where faces are: the head region of each person box. OpenCV's Haar cascades are not an option here:
the ``opencv-python-headless`` 5.0 wheel ships neither ``cv2.data`` cascades nor
``cv2.CascadeClassifier`` (moved out of the main modules in OpenCV 5), and no face weights may be
downloaded. Person boxes come from the detector the pipeline already runs (the caller passes a
``find_people(image) -> boxes`` function; evidence/ imports no analysis package). The head region is the
top part of the box over its full width: it over-covers (hair, shoulders, a raised arm) rather than
missing a face turned away or too small for a face detector, which is what CCTV footage mostly has.

Blurring is a mosaic (pixelation) followed by a Gaussian blur: no face detail survives it.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import av
import cv2
import numpy as np

Box = tuple[float, float, float, float]
FindPeople = Callable[[np.ndarray], Sequence[Sequence[float]]]

HEAD_FRACTION = 0.25  # of the person box's height, from its top
HEAD_MARGIN = 0.05  # of the box's height, added above and to the sides (a head may stick out)


def head_regions(person_boxes: Sequence[Sequence[float]], image_shape: tuple[int, ...],
                 fraction: float = HEAD_FRACTION, margin: float = HEAD_MARGIN) -> list[tuple[int, int, int, int]]:
    """Integer ``(x1, y1, x2, y2)`` head regions of ``person_boxes`` (pixels), clipped to the image."""
    height, width = image_shape[:2]
    regions = []
    for box in person_boxes:
        x1, y1, x2, y2 = (float(v) for v in box)
        h = max(0.0, y2 - y1)
        pad = margin * h
        rx1, ry1 = max(0, int(np.floor(x1 - pad))), max(0, int(np.floor(y1 - pad)))
        rx2, ry2 = min(width, int(np.ceil(x2 + pad))), min(height, int(np.ceil(y1 + fraction * h)))
        if rx2 > rx1 and ry2 > ry1:
            regions.append((rx1, ry1, rx2, ry2))
    return regions


def blur_regions(image: np.ndarray, regions: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """A copy of ``image`` with every region pixelated and blurred; ``image`` is left untouched."""
    out = image.copy()
    for x1, y1, x2, y2 in regions:
        patch = out[y1:y2, x1:x2]
        h, w = patch.shape[:2]
        if h < 2 or w < 2:
            continue
        block = max(4, min(h, w) // 6)
        small = cv2.resize(patch, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
        mosaic = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        k = block * 2 + 1
        out[y1:y2, x1:x2] = cv2.GaussianBlur(mosaic, (k, k), 0)
    return out


def blur_faces(image: np.ndarray, find_people: FindPeople) -> tuple[np.ndarray, int]:
    """``image`` with the head region of every person blurred, and how many regions were blurred."""
    regions = head_regions(find_people(image), image.shape)
    return blur_regions(image, regions), len(regions)


def blur_faces_in_video(src: str | Path, dst: str | Path, find_people: FindPeople,
                        detect_every: int = 1) -> int:
    """Re-encode the video ``src`` to H.264 MP4 ``dst`` with heads blurred in every frame.

    The one place evidence video is re-encoded: a derived copy made on request, never the original.
    People are found on every ``detect_every``-th frame; frames between reuse the last boxes.
    Returns the number of frames written.
    """
    frames = 0
    boxes: Sequence[Sequence[float]] = []
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4",
                                          options={"movflags": "+faststart"}) as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or vin.base_rate or Fraction(25)
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height = vin.codec_context.width, vin.codec_context.height
        vout.pix_fmt = "yuv420p"
        vout.time_base = vin.time_base or Fraction(1, 90000)
        vout.options = {"preset": "veryfast", "crf": "23"}
        for frame in inp.decode(vin):
            image = frame.to_ndarray(format="bgr24")
            if frames % max(1, detect_every) == 0:
                boxes = find_people(image)
            blurred = blur_regions(image, head_regions(boxes, image.shape))
            new = av.VideoFrame.from_ndarray(blurred, format="bgr24")
            new.pts, new.time_base = frame.pts, frame.time_base
            for packet in vout.encode(new):
                out.mux(packet)
            frames += 1
        for packet in vout.encode(None):
            out.mux(packet)
    return frames
