"""Latest frames across workers: each worker publishes its cameras' latest analysed frames and previews
(detections and rule candidates) to Redis; the API role serves them (`api.frame_routes`) and takes the
re-check's picture from them.

Bounded: at most one write per camera per ``cluster.frame_publish_s``, and only when a newer frame was analysed,
into one hash ``<prefix>:frame:<source>`` per camera that expires (a stopped camera, or a dead worker's, is not
shown frozen for long). Every write carries a 320 px thumbnail (the camera wall), the preview and the frame time;
the full frame (the JPEG costs most) only for a camera someone asked for in the last `WANTED_S` (the zone editor,
a re-check): the API marks it wanted (``<prefix>:frame-wanted:<source>``) and waits for the worker's next write.

A full-size snapshot the API served is held by its frame id (``<prefix>:served:<source>:<id>``, expiring after
`api.served_frames.KEEP_S`, the last `PER_CAMERA` per camera listed in ``<prefix>:served-ids:<source>`` and older
ones deleted), so that any API process cuts a drawn example from the picture the reviewer drew on.
"""
from __future__ import annotations

import logging
import time

import redis

from api.frame_routes import PreviewOut, SnapshotImage
from api.served_frames import KEEP_S, PER_CAMERA
from streetsight.cluster.loop import PeriodicRedisWriter
from streetsight.config import ClusterConfig
from streetsight.frame_views import encode, preview_of, scaled_jpeg
from streetsight.latest_frames import LatestFrames

log = logging.getLogger(__name__)

PUBLISHED_MAX_WIDTH = 1920  # larger frames are scaled down once, at the worker
THUMB_WIDTH = 320  # every write: the camera wall's tiles scale from it, not from the full frame
WANTED_S = 60.0  # a full frame asked for keeps being published this long


def frame_key(cluster: ClusterConfig, source_id: str) -> str:
    return cluster.key("frame", source_id)


def wanted_key(cluster: ClusterConfig, source_id: str) -> str:
    return cluster.key("frame-wanted", source_id)


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
        self._sent_full: dict[str, float] = {}  # ... and of the last one written in full

    def publish_once(self) -> int:
        """Write each camera's frame if newer than the one written (its full frame too while wanted, also for a
        frame already written without it); returns how many cameras were written."""
        frames = [f for f in map(self.latest.get, self.latest.sources()) if f is not None]
        if not frames:
            self._sent, self._sent_full = {}, {}
            return 0
        wanted = self.client.mget([wanted_key(self.cluster, f.source_id) for f in frames])
        pipe = self.client.pipeline(transaction=False)
        written = 0
        for frame, want in zip(frames, wanted):
            sid, key = frame.source_id, frame_key(self.cluster, frame.source_id)
            newer = frame.wall_time > self._sent.get(sid, float("-inf"))
            full = want is not None and self._sent_full.get(sid) != frame.wall_time
            if not newer and not full:
                continue
            fields: dict[str, bytes | str] = {}
            if newer:
                fields.update(thumb=encode(frame.image, THUMB_WIDTH), preview=preview_of(frame).model_dump_json(),
                              wall_time=repr(frame.wall_time))
                if not full:  # an older full frame must not pass for this one
                    pipe.hdel(key, "jpeg")
            if full:
                fields["jpeg"] = encode(frame.image, PUBLISHED_MAX_WIDTH)
                self._sent_full[sid] = frame.wall_time
            pipe.hset(key, mapping=fields)
            pipe.pexpire(key, self.ttl_ms)
            self._sent[sid] = frame.wall_time
            written += 1
        pipe.execute()
        live = {f.source_id for f in frames}
        self._sent = {sid: t for sid, t in self._sent.items() if sid in live}
        self._sent_full = {sid: t for sid, t in self._sent_full.items() if sid in live}
        return written


class RedisFrameView:
    """API side: `api.frame_routes.FrameView` over what the workers published."""

    def __init__(self, client: redis.Redis, cluster: ClusterConfig) -> None:
        self.client = client
        self.cluster = cluster

    def snapshot(self, source_id: str, max_width: int | None) -> SnapshotImage | None:
        if max_width is not None and max_width <= THUMB_WIDTH:
            thumb, wall_time = self._read(source_id, "thumb", "wall_time")
            return None if thumb is None or wall_time is None else SnapshotImage(scaled_jpeg(thumb, max_width),
                                                                                 float(wall_time))
        return self._full(source_id, max_width)

    def preview(self, source_id: str) -> PreviewOut | None:
        (raw,) = self._read(source_id, "preview")
        return PreviewOut.model_validate_json(raw) if raw is not None else None

    def _full(self, source_id: str, max_width: int | None) -> SnapshotImage | None:
        """The full frame; not published yet (nobody asked lately): ask, and wait for the worker's next write
        (two intervals at most), else the thumbnail rather than nothing."""
        try:
            self.client.set(wanted_key(self.cluster, source_id), b"1", px=int(WANTED_S * 1000))
        except redis.RedisError as exc:
            log.warning("cannot ask for the full frame of %s: %s", source_id, exc)
        deadline = time.monotonic() + 2 * self.cluster.frame_publish_s
        while True:
            jpeg, thumb, wall_time = self._read(source_id, "jpeg", "thumb", "wall_time")
            if wall_time is None:
                return None  # no camera publishing (or Redis down)
            if jpeg is not None or time.monotonic() >= deadline:
                return SnapshotImage(scaled_jpeg(jpeg if jpeg is not None else thumb, max_width), float(wall_time))
            time.sleep(0.1)

    def keep(self, source_id: str, frame_id: str, jpeg: bytes) -> None:
        ids = self.cluster.key("served-ids", source_id)
        ttl_ms = int(KEEP_S * 1000)
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.set(self.cluster.key("served", source_id, frame_id), jpeg, px=ttl_ms)
            pipe.lrem(ids, 0, frame_id)
            pipe.lpush(ids, frame_id)
            pipe.lrange(ids, PER_CAMERA, -1)
            pipe.ltrim(ids, 0, PER_CAMERA - 1)
            pipe.pexpire(ids, ttl_ms)
            older = pipe.execute()[3]
            if older:
                self.client.delete(*(self.cluster.key("served", source_id, old.decode()) for old in older))
        except redis.RedisError as exc:  # the snapshot is still served; a POST naming it then says to reload
            log.warning("cannot hold the served frame of %s: %s", source_id, exc)

    def kept(self, source_id: str, frame_id: str) -> bytes | None:
        try:
            return self.client.get(self.cluster.key("served", source_id, frame_id))
        except redis.RedisError as exc:
            log.warning("cannot read the served frame of %s from Redis: %s", source_id, exc)
            return None

    def _read(self, source_id: str, *fields: str) -> list[bytes | None]:
        try:
            return self.client.hmget(frame_key(self.cluster, source_id), list(fields))
        except redis.RedisError as exc:  # shown as "no frame yet"; the API itself stays up
            log.warning("cannot read the latest frame of %s from Redis: %s", source_id, exc)
            return [None] * len(fields)
