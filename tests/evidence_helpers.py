"""Helpers for the object-storage tests: configs that point at a SeaweedFS server, a packet ring filled
from a test video, and incidents pushed through the real recorder."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import av
import numpy as np

from detectors.incidents import Incident, IncidentEvent
from streams.packets import PacketRing
from streetsight.config import Config, parse_config
from streetsight.recorder import IncidentRecorder
from tests.s3_server import SeaweedS3

S3_ACCESS_ENV, S3_SECRET_ENV = "STREETSIGHT_TEST_S3_ACCESS", "STREETSIGHT_TEST_S3_SECRET"


def s3_config(tmp_path: Path, server: SeaweedS3, bucket: str, monkeypatch: Any, **storage: Any) -> Config:
    """A config with ``backend: s3`` whose keys come from environment variables, as in production."""
    monkeypatch.setenv(S3_ACCESS_ENV, server.access_key)
    monkeypatch.setenv(S3_SECRET_ENV, server.secret_key)
    raw = {
        "evidence": {"pre_roll_s": 2, "post_roll_s": 2, "buffer_s": 30},
        "storage": {
            "data_dir": str(tmp_path / "data"),
            "backend": "s3",
            "s3": {"endpoint": server.endpoint, "bucket": bucket, "secure": False,
                   "access_key": "${%s}" % S3_ACCESS_ENV, "secret_key": "${%s}" % S3_SECRET_ENV,
                   "connect_timeout_s": 1},
            **storage,
        },
    }
    return parse_config(raw, origin="test")


def filled_ring(video: Path) -> tuple[PacketRing, np.ndarray]:
    """All packets of ``video`` in a ring (as the reader would leave them) and its first frame (BGR)."""
    ring = PacketRing(max_seconds=60, max_bytes=256 << 20)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        ring.set_stream(stream)
        for packet in container.demux(stream):
            if packet.dts is None or packet.pts is None:
                continue
            ring.append(packet, float(packet.pts * packet.time_base))
    with av.open(str(video)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    return ring, frame


def record_incidents(recorder: IncidentRecorder, ring: PacketRing, image: np.ndarray, n: int,
                     source_id: str = "cam-1", confirmed_at: float = 5.0) -> list[Incident]:
    """``n`` illegal-parking incidents through the recorder: snapshots, clip and manifest each."""
    h, w = image.shape[:2]
    incidents = []
    for i in range(n):
        inc = Incident(type="illegal_parking", source_id=source_id, zone_id="kerb", track_id=i,
                       class_name="car", started_at=confirmed_at - 3, confirmed_at=confirmed_at,
                       box=(10.0 + i, 20.0, 110.0 + i, 90.0), score=0.8, frame_size=(w, h),
                       zone_polygon=[[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]])
        recorder.handle(IncidentEvent("opened", inc), image, ring)  # the clip is due at once
        incidents.append(inc)
    return incidents


def object_sha256(client: Any, bucket: str, key: str) -> str:
    response = client.get_object(bucket, key)
    try:
        return hashlib.sha256(response.read()).hexdigest()
    finally:
        response.close()
        response.release_conn()
