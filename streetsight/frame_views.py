"""The API's view of the cameras' latest analysed frames in one process (role ``all``): the pipeline's
`LatestFrames`, turned into the JPEG and the preview that ``/api/v1/sources/{id}/snapshot|preview`` serve.
Role ``api`` reads what workers publish instead (`streetsight.cluster.frames`)."""
from __future__ import annotations

import cv2
import numpy as np

from api.frame_routes import CandidateOut, DetectionOut, PreviewOut, SnapshotImage
from api.served_frames import ServedFrames
from streetsight.latest_frames import LatestFrame, LatestFrames

JPEG_QUALITY = 85


def preview_of(frame: LatestFrame) -> PreviewOut:
    """Detections (boxes normalised) and the rules' candidates (``extras["candidates"]``, set by the pipeline)."""
    width, height = frame.size
    dets = frame.detections
    names = dets.data.get("class_name") if len(dets) else None
    scale = np.array([width, height, width, height], dtype=float)
    detections = [DetectionOut(class_name=str(names[i]) if names is not None else str(dets.class_id[i]),
                               score=round(float(dets.confidence[i]), 3),
                               box=[round(float(v), 4) for v in dets.xyxy[i] / scale])
                  for i in range(len(dets))]
    candidates = [CandidateOut(**c.as_dict(width, height)) for c in frame.extras.get("candidates", ())]
    return PreviewOut(source_id=frame.source_id, width=width, height=height, time_s=frame.time_s,
                      wall_time=frame.wall_time, detections=detections, candidates=candidates)


def shrink(image: np.ndarray, max_width: int | None) -> np.ndarray:
    """``image`` no wider than ``max_width``: halved (cheap) while at least twice too wide, then area-resampled
    (INTER_AREA straight from full size costs ~30x more for a 320 px thumbnail)."""
    if not max_width or image.shape[1] <= max_width:
        return image
    while image.shape[1] >= 2 * max_width:
        image = cv2.pyrDown(image)
    height = max(1, round(image.shape[0] * max_width / image.shape[1]))
    return cv2.resize(image, (max_width, height), interpolation=cv2.INTER_AREA)


def encode(image: np.ndarray, max_width: int | None = None) -> bytes:
    ok, buf = cv2.imencode(".jpg", shrink(image, max_width), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # cannot happen for a valid uint8 BGR image
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def scaled_jpeg(jpeg: bytes, max_width: int | None) -> bytes:
    """A stored JPEG scaled down to ``max_width`` (unchanged when already narrower)."""
    if not max_width:
        return jpeg
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[1] <= max_width:
        return jpeg
    return encode(image, max_width)


class LocalFrameView:
    """`api.frame_routes.FrameView` over this process's pipeline."""

    def __init__(self, latest: LatestFrames, served: ServedFrames | None = None) -> None:
        self.latest = latest
        self.served = served if served is not None else ServedFrames()

    def snapshot(self, source_id: str, max_width: int | None) -> SnapshotImage | None:
        frame = self.latest.get(source_id)
        if frame is None:
            return None
        return SnapshotImage(encode(frame.image, max_width), frame.wall_time)

    def preview(self, source_id: str) -> PreviewOut | None:
        frame = self.latest.get(source_id)
        return preview_of(frame) if frame is not None else None

    def keep(self, source_id: str, frame_id: str, jpeg: bytes) -> None:
        self.served.keep(source_id, frame_id, jpeg)

    def kept(self, source_id: str, frame_id: str) -> bytes | None:
        return self.served.get(source_id, frame_id)
