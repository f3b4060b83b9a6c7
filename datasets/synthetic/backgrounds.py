"""Real backgrounds: frames of the sample footage, kept apart by time for train, val and test.

Consecutive frames of a fixed camera are near duplicates, so each split takes its frames from its own
stretch of every video (the first 70 % for train, the next 15 % for val, the last 15 % for test by
default): the held-out sets never show a frame the training set saw. (They do show the same street: a
held-out figure on synthetic data says how well the objects were learned, not how well the model meets a
new camera; that is what the real-footage check is for.)
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from datasets.yolo import SPLITS, DatasetError


def read_frames(video: Path, indices: Sequence[int]) -> list[np.ndarray]:
    import av

    wanted = set(indices)
    frames = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                frames.append(frame.to_ndarray(format="bgr24"))
            if i >= max(wanted):
                break
    return frames


def frame_count(video: Path) -> int:
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for _ in container.demux(stream) if _.size)


def load_backgrounds(videos: Sequence[str | Path], per_video: int = 40,
                     shares: Sequence[float] = (0.7, 0.15, 0.15)) -> dict[str, list[tuple[str, np.ndarray]]]:
    """split -> [(name, BGR frame)], ``per_video`` frames per video spread over each split's stretch."""
    pools: dict[str, list[tuple[str, np.ndarray]]] = {s: [] for s in SPLITS}
    for video in map(Path, videos):
        if not video.is_file():
            raise DatasetError(f"background video {video} does not exist (run `python -m datasets.samples`)")
        total = frame_count(video)
        if total < 3:
            raise DatasetError(f"background video {video} has only {total} frames")
        wanted: dict[int, str] = {}  # frame index -> split
        start = 0.0
        for split, share in zip(SPLITS, shares):
            n = max(1, int(round(per_video * share)))
            a, b = int(start * total), max(int(start * total) + 1, int((start + share) * total) - 1)
            for i in np.linspace(a, b - 1, n).astype(int).tolist():
                wanted.setdefault(i, split)
            start += share
        indices = sorted(wanted)
        for i, frame in zip(indices, read_frames(video, indices)):  # one decoding pass per video
            pools[wanted[i]].append((f"{video.stem}-{i:05d}", frame))
    return pools


def random_view(frame: np.ndarray, rng: np.random.Generator, long_side: int) -> np.ndarray:
    """A random crop (60-100 % of each side, the frame's aspect kept), maybe mirrored, scaled so its long
    side is ``long_side``."""
    h, w = frame.shape[:2]
    f = rng.uniform(0.6, 1.0)
    cw, ch = max(16, int(w * f)), max(16, int(h * f))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    view = frame[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        view = view[:, ::-1]
    scale = long_side / max(cw, ch)
    size = (max(16, int(round(cw * scale))), max(16, int(round(ch * scale))))
    return cv2.resize(np.ascontiguousarray(view), size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
