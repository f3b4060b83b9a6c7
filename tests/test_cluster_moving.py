"""Two moving cameras read by two worker processes see the same parked van at the same place: one incident.

Real parts: a GStreamer RTSP server (two body cameras filming the same street), Redis, two
``serve --role worker`` processes holding one camera each, one ``serve --role api`` process that takes the
devices' position reports over HTTP. Without the Redis geo merge each worker would open its own incident.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import redis

from tests.cluster_procs import ApiClient, ServeProcess, write_config
from tests.conftest import free_port
from tests.test_cluster_failover import KERB, street_cameras, wait_for  # noqa: F401 - fixture

pytestmark = [pytest.mark.rtsp, pytest.mark.samples]

DEVICES = ("bodycam-1", "bodycam-2")


def test_two_devices_on_two_workers_make_one_incident(tmp_path, redis_server, street_cameras):  # noqa: F811
    api_port = free_port()
    config = write_config(tmp_path / "cluster.yaml", {
        "sources": [{"id": d, "kind": "enforcement", "url": street_cameras.url(f"street{i}"), "analysis_fps": 1,
                     "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}]}
                    for i, d in enumerate(DEVICES)],
        "rules": {"illegal_parking": {"leave_after_s": 30, "merge_radius_m": 30}},
        "evidence": {"pre_roll_s": 2, "post_roll_s": 2},
        "model": {"threads": 1},
        "storage": {"data_dir": str(tmp_path / "data")},
        "api": {"port": api_port},
        "cluster": {"redis_url": redis_server.url, "lease_s": 4, "heartbeat_s": 1},
    })
    logs = tmp_path / "logs"
    logs.mkdir()
    api = ServeProcess("api", config, ["--role", "api"], logs)
    workers = [ServeProcess(w, config, ["--role", "worker", "--worker-id", w, "--capacity", "1"], logs)
               for w in ("w1", "w2")]
    r = redis.Redis.from_url(redis_server.url)
    stop = threading.Event()
    try:
        api.start()
        client = ApiClient(api_port).wait_ready(api)

        def report_positions() -> None:  # both devices stand 10 m apart across the street from the van
            while not stop.is_set():
                for k, device in enumerate(DEVICES):
                    client.http.post(f"/api/v1/sources/{device}/position",
                                     json={"lng": 121.47, "lat": 31.23 + 0.00009 * k, "timestamp": time.time()})
                stop.wait(0.5)

        reporter = threading.Thread(target=report_positions, daemon=True)
        reporter.start()
        wait_for("positions of both devices in Redis",
                 lambda: all(r.zcard(f"streetsight:positions:{d}") for d in DEVICES), 10, [api])
        for w in workers:
            w.start()
        procs = [api, *workers]

        owners = wait_for("each device on its own worker", lambda: (o := {
            d: v.decode() for d, v in zip(DEVICES, r.mget([f"streetsight:lease:{d}" for d in DEVICES])) if v}
        ) and len(set(o.values())) == 2 and o, 90, procs)

        first = wait_for("an incident stored", client.incidents, 150, procs)
        # both devices go on seeing the van for a while (each needs 3 sightings in 5 frames to confirm)
        analysed = {s["id"]: s["frames_analysed"] for s in client.sources()}
        wait_for("both devices analysing 8 more frames", lambda: all(
            s["frames_analysed"] >= analysed[s["id"]] + 8 for s in client.sources()), 60, procs)
        time.sleep(2)  # what the workers published meanwhile reaches the API
        incidents = client.incidents()
        assert Counter(i["type"] for i in incidents) == Counter({"illegal_parking": 1}), incidents
        assert incidents[0]["id"] == first[0]["id"] and incidents[0]["source"] in owners
        # the other worker's device joined it: it will be listed among the devices when the incident ends
        assert {m.decode() for m in r.smembers(f"streetsight:geo:dev:{first[0]['id']}")} == set(DEVICES)
    finally:
        stop.set()
        for p in [*workers, api]:
            p.stop()
        r.close()
