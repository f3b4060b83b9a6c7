"""Latest frames across workers: each worker publishes its cameras' latest analysed frame (JPEG) and preview
(detections and rule candidates) to Redis; the API role serves them (`api.frame_routes`) and takes the
re-check's picture from them.

Bounded: at most one write per camera per ``cluster.frame_publish_s``, and only when a newer frame was analysed;
one hash ``<prefix>:frame:<source>`` (``jpeg``, ``thumb``, ``preview``, ``wall_time``) per camera that expires, so a camera
that stops (or a dead worker's) is not shown frozen for long.
"""
from __future__ import annotations

import logging

import redis

from api.frame_routes import PreviewOut, SnapshotImage
from streetsight.cluster.loop import PeriodicRedisWriter
from streetsight.config import ClusterConfig
from streetsight.frame_views import encode, preview_of, scaled_jpeg
from streetsight.latest_frames import LatestFrames

log = logging.getLogger(__name__)

PUBLISHED_MAX_WIDTH = 1920  # larger frames are scaled down once, at the worker
THUMB_WIDTH = 320  # also published: the camera wall's tiles scale from it, not from the full frame


def frame_key(cluster: ClusterConfig, source_id: str) -> str:
    return cluster.key("frame", source_id)


def frame_ttl_ms(cluster: ClusterConfig) -> int:
    return int(max(2 * cluster.lease_s, 3 * cluster.frame_publish_s) * 1000)


class FramePublisher(PeriodicRedisWriter):
    """Worker side: every ``frame_publish_s``, the frames analysed since the last write."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig, latest: LatestFrames) -> None:
        super().__init__("frame-publisher", "latest frames", cluster.frame_publish_s)
        self.client = client
        self.cluster = cluster
        self.latest = latest
        self.ttl_ms = frame_ttl_ms(cluster)
        self._sent: dict[str, float] = {}  # source -> wall time of the frame last written

    def publish_once(self) -> int:
        """Write each camera's frame if newer than the one written; returns how many were written."""
        pipe = self.client.pipeline(transaction=False)
        written: dict[str, float] = {}
        sources = self.latest.sources()
        for sid in sources:
            frame = self.latest.get(sid)
            if frame is None or frame.wall_time <= self._sent.get(sid, float("-inf")):
                continue
            key = frame_key(self.cluster, sid)
            pipe.hset(key, mapping={"jpeg": encode(frame.image, PUBLISHED_MAX_WIDTH),
                                    "thumb": encode(frame.image, THUMB_WIDTH),
                                    "preview": preview_of(frame).model_dump_json(),
                                    "wall_time": repr(frame.wall_time)})
            pipe.pexpire(key, self.ttl_ms)
            written[sid] = frame.wall_time
        if written:
            pipe.execute()
        self._sent = {sid: t for sid, t in {**self._sent, **written}.items() if sid in sources}
        return len(written)


class RedisFrameView:
    """API side: `api.frame_routes.FrameView` over what the workers published."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig) -> None:
        self.client = client
        self.cluster = cluster

    def snapshot(self, source_id: str, max_width: int | None) -> SnapshotImage | None:
        small = max_width is not None and max_width <= THUMB_WIDTH
        jpeg, wall_time = self._read(source_id, "thumb" if small else "jpeg", "wall_time")
        if jpeg is None or wall_time is None:
            return None
        return SnapshotImage(scaled_jpeg(jpeg, max_width), float(wall_time))

    def preview(self, source_id: str) -> PreviewOut | None:
        (raw,) = self._read(source_id, "preview")
        return PreviewOut.model_validate_json(raw) if raw is not None else None

    def _read(self, source_id: str, *fields: str) -> list[bytes | None]:
        try:
            return self.client.hmget(frame_key(self.cluster, source_id), list(fields))
        except redis.RedisError as exc:  # shown as "no frame yet"; the API itself stays up
            log.warning("cannot read the latest frame of %s from Redis: %s", source_id, exc)
            return [None] * len(fields)
