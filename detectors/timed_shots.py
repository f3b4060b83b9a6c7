"""Timed snapshots of a dwell: pictures taken at first sighting, during the dwell and at confirmation, which
together prove the object stayed in the same place (GA/T 832 asks for several timed images of one vehicle).

The rule does not know at first sighting whether the object will stay, so each candidate keeps its earlier
pictures in memory until it is confirmed or moves: at most ``count - 1`` JPEGs of at most ``max_width`` pixels
per candidate, dropped as soon as the candidate's dwell restarts or its track is lost. A picture is encoded only
once its object is seen still on the next analysed frame (until then the frame itself is held, shared with every
other candidate of that frame): objects that merely pass through a zone cost no JPEG encoding.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ShotPlan:
    count: int = 3  # pictures per incident, the first at first sighting, the last at confirmation
    every_s: float | None = None  # seconds between pictures; None: spread evenly over the dwell
    max_width: int = 1280  # pictures are scaled down to this width in memory and in the store
    quality: int = 85  # JPEG quality

    def due(self, taken: int, dwell_start: float, min_dwell_s: float) -> float | None:
        """Media time at which picture number ``taken`` (0-based) is due before confirmation; None when
        every picture before the confirmation one has been taken."""
        if taken >= self.count - 1:
            return None
        step = self.every_s if self.every_s is not None else min_dwell_s / max(1, self.count - 1)
        at = dwell_start + taken * step
        return at if taken == 0 or at < dwell_start + min_dwell_s else None


@dataclass(frozen=True)
class TimedShot:
    at: float  # media s of the frame
    jpeg: bytes  # the whole frame, scaled to the plan's max_width
    box: Box  # the object's box in the original frame's pixels
    frame_size: tuple[int, int]  # (width, height) of the original frame


class ShotEncoder:
    """JPEG of a whole frame, scaled to the plan's width; the last frame's bytes are reused, so candidates of
    one frame share one encoding."""

    def __init__(self, plan: ShotPlan) -> None:
        self.plan = plan
        self._last: tuple[float, int, bytes] | None = None  # (media s, id of the image, JPEG)

    def shot(self, image: np.ndarray, at: float, box: np.ndarray | Box) -> TimedShot:
        h, w = image.shape[:2]
        if self._last is None or self._last[:2] != (at, id(image)):
            small = image if w <= self.plan.max_width else cv2.resize(
                image, (self.plan.max_width, max(1, round(h * self.plan.max_width / w))), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, self.plan.quality])
            if not ok:
                raise ValueError("OpenCV could not encode a timed snapshot")
            self._last = (at, id(image), buf.tobytes())
        return TimedShot(at, self._last[2], tuple(float(v) for v in box), (w, h))


@dataclass
class ShotRoll:
    """The pictures of one candidate's dwell so far."""

    taken: list[TimedShot] = field(default_factory=list)
    held: tuple[float, np.ndarray, Box] | None = None  # a due picture whose object has not been seen still since

    def clear(self) -> None:
        self.taken.clear()
        self.held = None

    def observe(self, encoder: ShotEncoder, image: np.ndarray, at: float, box: np.ndarray,
                dwell_start: float, min_dwell_s: float) -> None:
        """The candidate seen still at ``at`` (its dwell did not restart): keep the held picture, and hold this
        frame if the next picture is due."""
        self._keep_held(encoder, at)
        due = encoder.plan.due(len(self.taken) + (self.held is not None), dwell_start, min_dwell_s)
        if due is not None and at >= due:
            self.held = (at, image, tuple(float(v) for v in box))

    def confirm(self, encoder: ShotEncoder, image: np.ndarray, at: float, box: np.ndarray) -> list[TimedShot]:
        """Every picture, the confirmation's last; the roll is empty afterwards."""
        self._keep_held(encoder, at, now=True)
        shots = [*self.taken, encoder.shot(image, at, box)] if not self.taken or self.taken[-1].at != at \
            else list(self.taken)
        self.clear()
        return shots

    def _keep_held(self, encoder: ShotEncoder, at: float, now: bool = False) -> None:
        if self.held is not None and (now or self.held[0] < at):
            t, image, box = self.held
            self.taken.append(encoder.shot(image, t, box))
            self.held = None
