"""Snapshots and previews across ``--role api`` + a worker (issue 13 item 2): the worker that reads a camera
publishes its latest analysed frame to a real Redis, and the API process, which reads no camera, serves it and
stores it as a re-check's picture (real RTSP server, real Redis, the worker's real pipeline)."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from evidence.store import LocalEvidenceStore
from streetsight.recheck_snapshots import recheck_snapshots
from tests.api_env import incident
from tests.test_sources_cluster import api_and_worker, wait_for


@pytest.mark.rtsp
def test_the_api_role_serves_the_frames_a_worker_publishes(rtsp_urls, redis_server, tmp_path: Path,
                                                           monkeypatch) -> None:
    from streetsight.cluster.connection import connect
    from streetsight.cluster.frames import RedisFrameView, frame_key

    with api_and_worker(tmp_path, redis_server.url, monkeypatch, frame_publish_s=0.5) as (client, worker):
        zone = {"id": "kerb", "events": ["illegal_parking"], "polygon": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}
        camera = {"id": "cam-1", "url": rtsp_urls["cam"], "decode": "keyframes", "zones": [zone]}
        assert client.post("/api/v1/sources", json=camera).status_code == 201
        assert client.get("/api/v1/sources/cam-9/snapshot").status_code == 404

        r = wait_for("the worker's frame through the API process",
                     lambda: (lambda r: r if r.status_code == 200 else None)(
                         client.get("/api/v1/sources/cam-1/snapshot")))
        assert r.headers["content-type"] == "image/jpeg" and r.headers["cache-control"] == "no-store"
        image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (240, 320, 3) and float(image.std()) > 5  # the camera's picture, not blank
        local = worker.pipeline.latest.get("cam-1")
        assert local is not None and float(r.headers["x-frame-time"]) <= local.wall_time + 0.001
        thumb = client.get("/api/v1/sources/cam-1/snapshot", params={"width": 160})
        assert cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
        preview = client.get("/api/v1/sources/cam-1/preview").json()
        assert (preview["source_id"], preview["width"], preview["height"]) == ("cam-1", 320, 240)
        assert isinstance(preview["detections"], list) and isinstance(preview["candidates"], list)
        assert 0 < worker.redis.pttl(frame_key(worker.cfg.cluster, "cam-1")) <= 4000  # expires: 2 lease times

        # the re-check's picture in the API role comes from the same published frame
        repository = client.app.state.repository
        repository.add(incident(1, source="cam-1"))
        store = LocalEvidenceStore(tmp_path / "evidence")
        take = recheck_snapshots(RedisFrameView(connect(worker.cfg.cluster), worker.cfg.cluster), store, repository,
                                 None)
        item = take("inc_0000000000000001", "cam-1", datetime.now(timezone.utc))
        picture = store.path_for(item["key"]).read_bytes()
        assert item["kind"] == "recheck_snapshot" and item["sha256"] == hashlib.sha256(picture).hexdigest()
        assert cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR).shape == (240, 320, 3)
        assert repository.evidence_item("inc_0000000000000001", "recheck_snapshot").key == item["key"]

        assert client.delete("/api/v1/sources/cam-1").status_code == 204
        gone = client.get("/api/v1/sources/cam-1/snapshot")  # its last frame, still in Redis, is not served
        assert gone.status_code == 404 and gone.json()["detail"] == "source 'cam-1' not found"
