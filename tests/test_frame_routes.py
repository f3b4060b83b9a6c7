"""``/api/v1/sources/{id}/snapshot`` and ``/preview`` (issue 13 item 2): the latest analysed frame as JPEG and
what the detector and the rules see on it, served from the pipeline in process and, in the API role, from what
workers publish to a real Redis (bounded writes, keys that expire)."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv

from detectors.dwell import DwellParams, DwellRule
from detectors.context import FrameContext
from streetsight.config import ClusterConfig
from streetsight.frame_views import LocalFrameView, encode
from streetsight.latest_frames import LatestFrames
from tests.api_env import ApiEnv
from vision.zones import Zone

KERB = [[0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [0.5, 0.5]]
VAN = np.array([[480.0, 20.0, 600.0, 110.0]])  # pixels of a 640x360 frame, inside the kerb zone
PASSER = np.array([[40.0, 200.0, 90.0, 330.0]])  # a person outside every zone


def street_frame() -> np.ndarray:
    """A 640x360 BGR frame with structure (JPEG size and scaling are checked on it)."""
    image = np.full((360, 640, 3), 90, dtype=np.uint8)
    cv2.rectangle(image, (480, 20), (600, 110), (240, 240, 240), -1)
    cv2.putText(image, "kerb", (500, 150), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 255, 255), 2)
    return image


def tracked(boxes: np.ndarray, names: list[str], scores: list[float]) -> sv.Detections:
    return sv.Detections(xyxy=boxes.astype(np.float32), confidence=np.array(scores, dtype=np.float32),
                         class_id=np.arange(len(names)), tracker_id=np.arange(1, len(names) + 1),
                         data={"class_name": np.array(names, dtype=object)})


def latest_after_dwelling(seconds: int) -> tuple[LatestFrames, float]:
    """A real dwell rule fed ``seconds`` frames of a van standing in the kerb zone; the pipeline's latest entry."""
    rule = DwellRule("illegal_parking", "cam-1", [Zone.from_points("kerb", ["illegal_parking"], KERB)],
                     DwellParams(classes=("truck", "car"), min_dwell_s=60))
    dets = tracked(np.vstack([VAN, PASSER]), ["truck", "person"], [0.8, 0.6])
    for t in range(seconds + 1):
        assert rule.observe(FrameContext(float(t), 640, 360), dets) == []
    latest = LatestFrames()
    wall = time.time()
    latest.put("cam-1", street_frame(), dets, float(seconds), wall, extras={"candidates": rule.in_progress()})
    return latest, wall


def check_routes(client, wall: float, expected_jpeg: bytes | None = None) -> None:
    r = client.get("/api/v1/sources/cam-1/snapshot")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg" and r.headers["cache-control"] == "no-store"
    assert abs(float(r.headers["x-frame-time"]) - wall) < 0.01
    image = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)
    assert abs(float(image[60, 540].mean()) - 240) < 20  # the van's pixels, not a blank picture
    if expected_jpeg is not None:
        assert r.content == expected_jpeg
    thumb = client.get("/api/v1/sources/cam-1/snapshot", params={"width": 320})
    assert cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR).shape == (180, 320, 3)
    bad = client.get("/api/v1/sources/cam-1/snapshot", params={"width": 0})
    assert bad.status_code == 422 and "width" in bad.text
    unknown = client.get("/api/v1/sources/nope/snapshot")
    assert unknown.status_code == 404 and unknown.json()["detail"] == "source 'nope' not found"
    idle = client.get("/api/v1/sources/cam-2/snapshot")
    assert idle.status_code == 404 and "no analysed frame yet" in idle.json()["detail"]
    assert client.get("/api/v1/sources/cam-2/preview").status_code == 404

    preview = client.get("/api/v1/sources/cam-1/preview").json()
    assert (preview["width"], preview["height"], preview["time_s"]) == (640, 360, 12.0)
    assert [(d["class_name"], d["box"]) for d in preview["detections"]] == [
        ("truck", [0.75, 0.0556, 0.9375, 0.3056]), ("person", [0.0625, 0.5556, 0.1406, 0.9167])]
    # only the van is judged (the person is no parking class and outside the zone): 12 s of its 60 s dwell
    assert [(c["event_type"], c["zone_id"], c["class_name"], c["progress"], c["needed"], c["unit"], c["incident_id"])
            for c in preview["candidates"]] == [("illegal_parking", "kerb", "truck", 12.0, 60.0, "s", None)]


def test_snapshot_and_preview_of_the_pipeline_in_process(tmp_path: Path, database_url: str) -> None:
    latest, wall = latest_after_dwelling(12)
    env = ApiEnv(tmp_path, database_url, frame_view=LocalFrameView(latest),
                 sources_provider=lambda: [{"id": "cam-1"}, {"id": "cam-2"}])
    try:
        from fastapi.testclient import TestClient

        with TestClient(env.app) as anonymous:
            assert anonymous.get("/api/v1/sources/cam-1/snapshot").status_code == 401
        check_routes(env.client("reviewer"), wall)
        check_routes(env.client("trainer"), wall)  # any signed-in role
    finally:
        env.close()


def test_workers_publish_latest_frames_to_redis_and_the_api_role_serves_them(tmp_path: Path, database_url: str,
                                                                              redis_server) -> None:
    from streetsight.cluster.connection import connect
    from streetsight.cluster.frames import FramePublisher, RedisFrameView, frame_key

    cluster = ClusterConfig(redis_url=redis_server.url, prefix="t", lease_s=30, frame_publish_s=1.5)
    latest, wall = latest_after_dwelling(12)
    client = connect(cluster)
    publisher = FramePublisher(client, cluster, latest)
    view = RedisFrameView(connect(cluster), cluster)
    assert view.snapshot("cam-1", 320) is None and view.preview("cam-1") is None  # nothing published yet
    assert publisher.publish_once() == 1  # thumbnail, preview, time: the camera wall's part
    assert publisher.publish_once() == 0  # bounded: the same frame is not written again
    assert client.hget(frame_key(cluster, "cam-1"), "jpeg") is None  # nobody asked for the full frame
    assert view.snapshot("cam-1", 320).jpeg == encode(latest.get("cam-1").image, 320)
    waited = time.monotonic()
    fallback = view.snapshot("cam-1", None)  # asks for it, waits two intervals, then makes do with the thumbnail
    assert time.monotonic() - waited >= 3.0 and fallback.jpeg == encode(latest.get("cam-1").image, 320)
    assert publisher.publish_once() == 1  # the full frame now that it is wanted, though the frame is not newer
    assert publisher.publish_once() == 0
    assert 0 < client.pttl(frame_key(cluster, "cam-1")) <= 60_000  # expires: max(2 lease times, 3 intervals)
    env = ApiEnv(tmp_path, database_url, frame_view=view, sources_provider=lambda: [{"id": "cam-1"}, {"id": "cam-2"}])
    try:
        check_routes(env.client("reviewer"), wall, expected_jpeg=latest.get("cam-1").jpeg(85))
        latest.put("cam-1", street_frame(), sv.Detections.empty(), 13.0, wall + 1.0)
        assert publisher.publish_once() == 1  # a newer frame is
        assert env.client("reviewer").get("/api/v1/sources/cam-1/preview").json()["detections"] == []
        latest.forget("cam-1")  # the camera left this worker: its key expires
        client.pexpire(frame_key(cluster, "cam-1"), 1)
        time.sleep(0.05)
        assert env.client("reviewer").get("/api/v1/sources/cam-1/snapshot").status_code == 404
    finally:
        env.close()
    redis_server.stop()  # Redis down: no frame, the API answers 404 rather than failing
    assert view.snapshot("cam-1", None) is None


def test_a_moving_cameras_rule_reports_hits_so_far() -> None:
    """Sightings (body-worn, vehicle cameras) progress in hits of ``confirm_hits``, not seconds."""
    from detectors.geo import GeoMerger
    from detectors.sighting import SightingParams, SightingRule

    rule = SightingRule("illegal_parking", "body-1", [Zone.from_points("all", ["illegal_parking"], KERB)],
                        SightingParams(classes=("truck",), confirm_hits=3, confirm_frames=5), merger=GeoMerger())
    dets = tracked(VAN, ["truck"], [0.8])
    rule.observe(FrameContext(0.0, 640, 360), dets)
    rule.observe(FrameContext(0.5, 640, 360), dets)
    [c] = rule.in_progress()
    assert (c.zone_id, c.class_name, c.progress, c.needed, c.unit, c.incident_id) == ("all", "truck", 2.0, 3.0, "hits", None)
    [opened] = [e.incident for e in rule.observe(FrameContext(1.0, 640, 360), dets)]
    assert rule.in_progress()[0].incident_id == opened.id
