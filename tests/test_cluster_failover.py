"""Scale-out with real processes (issue 7): Redis, three workers, one API process, file-backed RTSP cameras.

One run walks through what a city deployment must survive:
1. three workers share six cameras by lease and publish incidents to Redis while no API process runs;
2. Redis is killed (SIGKILL) and restarted from its AOF: everything it acknowledged to the workers is there;
3. the API process starts and stores every incident once, with its evidence;
4. the worker holding the most cameras is killed with SIGKILL: its cameras stream again on the others
   within the lease time, and the incidents they left open are continued, not opened twice.
"""
from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from streetsight.cluster.bus_events import BusEvent
from tests.cluster_procs import ApiClient, ServeProcess, write_config
from tests.conftest import RtspServer, free_port, rtsp_server_unavailable
from tests.real_parts import missing_real_part

pytestmark = [pytest.mark.rtsp, pytest.mark.samples]

CAMERAS = 6
LEASE_S = 4.0
HEARTBEAT_S = 1.0
KERB = [[0.82, 0.05], [0.97, 0.05], [0.97, 0.20], [0.82, 0.20]]  # where the van in vtest stands


def wait_for(what: str, predicate, timeout_s: float, procs=(), interval_s: float = 0.5):
    """Poll ``predicate`` until it returns something truthy; generous bounds, not speed goals."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        for p in procs:
            assert p.alive, f"{p.name} died:\n{p.log_tail()}"
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 - a server restarting answers with errors for a while
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval_s)
    logs = "\n".join(f"--- {p.name}\n{p.log_tail(3000)}" for p in procs)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{logs}")


def stream_events(client: redis.Redis, stream: str) -> list[BusEvent]:
    return [BusEvent.decode(fields) for _, fields in client.xrange(stream)]


@pytest.fixture
def street_cameras(tmp_path: Path):
    if (reason := rtsp_server_unavailable()) is not None:
        missing_real_part(reason)
    from datasets.samples import fetch_samples

    video = fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    server = RtspServer({f"street{i}": video for i in range(CAMERAS)}).start()
    try:
        yield server
    finally:
        server.stop()


def test_workers_fail_over_and_nothing_is_lost_or_duplicated(tmp_path, redis_server, street_cameras):
    api_port = free_port()
    config = write_config(tmp_path / "cluster.yaml", {
        "sources": [{"id": f"cam{i}", "url": street_cameras.url(f"street{i}"), "analysis_fps": 1,
                     "zones": [{"id": "kerb", "events": ["illegal_parking"], "polygon": KERB}]}
                    for i in range(CAMERAS)],
        "rules": {"illegal_parking": {"min_dwell_s": 6, "leave_after_s": 30}},
        "evidence": {"pre_roll_s": 2, "post_roll_s": 2},
        "model": {"threads": 1},
        "streams": {"open_timeout_s": 3, "read_timeout_s": 3, "backoff_initial_s": 0.3, "backoff_max_s": 2},
        "storage": {"data_dir": str(tmp_path / "data")},
        "api": {"port": api_port},
        "cluster": {"redis_url": redis_server.url, "lease_s": LEASE_S, "heartbeat_s": HEARTBEAT_S,
                    "claim_idle_s": 5},
    })
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = {w: ServeProcess(w, config, ["--role", "worker", "--worker-id", w], logs) for w in ("w1", "w2", "w3")}
    api = ServeProcess("api", config, ["--role", "api"], logs)
    r = redis.Redis.from_url(redis_server.url)
    stream = "streetsight:events"
    try:
        for w in workers.values():
            w.start()
        procs = list(workers.values())

        # 1. cameras spread over the workers, each held once; incidents published with no API running
        def leases() -> dict[str, str]:
            keys = [f"streetsight:lease:cam{i}" for i in range(CAMERAS)]
            return {f"cam{i}": v.decode() for i, v in enumerate(r.mget(keys)) if v is not None}

        def balanced() -> dict[str, str]:
            # a worker that starts first may take every camera until the others join: they must then move
            o = leases()
            return o if len(o) == CAMERAS and set(Counter(o.values()).values()) == {2} else {}

        owners = wait_for("every camera leased, two per worker", balanced, 120, procs)

        def published() -> list[BusEvent]:
            events = stream_events(r, stream)
            clips = {e.incident_id for e in events if e.kind == "evidence_attached" and e.payload["kind"] == "clip"}
            opened = [e for e in events if e.kind == "incident_opened"]
            return events if len(opened) >= CAMERAS and len(clips) >= CAMERAS else []

        before_restart = wait_for("an incident with its clip on every camera", published, 150, procs)
        opened = [e for e in before_restart if e.kind == "incident_opened"]
        assert sorted(e.payload["source"] for e in opened) == sorted(f"cam{i}" for i in range(CAMERAS))

        # 2. Redis dies hard and comes back from its AOF: every acknowledged entry is still there
        acknowledged = {e.event_id for e in stream_events(r, stream)}
        redis_server.restart(signal.SIGKILL)
        after = {e.event_id for e in stream_events(r, stream)}
        assert acknowledged <= after, f"lost in the restart: {acknowledged - after}"

        # 3. the API stores every incident once, with its evidence
        api.start()
        procs.append(api)
        client = ApiClient(api_port).wait_ready(api)

        def stored() -> list[dict]:
            items = client.incidents()
            full = [i for i in items if {"snapshot", "clip", "manifest"} <= set(i["evidence"])]
            return items if len(full) >= CAMERAS else []

        incidents = wait_for("every incident stored with its evidence", stored, 60, procs)
        assert sorted(i["source"] for i in incidents) == sorted(f"cam{i}" for i in range(CAMERAS))
        assert {i["id"] for i in incidents} == {e.incident_id for e in opened}
        sources = client.sources()
        assert all(s["state"] == "streaming" for s in sources), sources
        assert {s["id"]: s["worker"] for s in sources} == leases()

        # 4. kill -9 a worker: its cameras move within the lease time, its open incidents continue
        owners = leases()
        victim = Counter(owners.values()).most_common(1)[0][0]
        orphaned = sorted(c for c, w in owners.items() if w == victim)
        workers[victim].kill()
        procs.remove(workers[victim])
        killed_at = time.monotonic()

        def taken_over() -> bool:
            state = {s["id"]: s for s in client.sources()}
            return all(state[c]["state"] == "streaming" and state[c]["worker"] not in (None, victim)
                       for c in orphaned)

        wait_for("the orphaned cameras streaming on the other workers", taken_over, 6 * LEASE_S, procs,
                 interval_s=0.2)
        takeover_s = time.monotonic() - killed_at
        print(f"\ntakeover of {len(orphaned)} camera(s) after kill -9: {takeover_s:.1f} s (lease {LEASE_S} s)")
        assert set(leases()) == {f"cam{i}" for i in range(CAMERAS)} and victim not in leases().values()

        # the van is still parked: after more than a dwell time on the new owners, still one incident each
        analysed = {s["id"]: s["frames_analysed"] for s in client.sources()}
        wait_for("the new owners analysing past the dwell time",
                 lambda: all(s["frames_analysed"] >= analysed[s["id"]] + 10 for s in client.sources()
                             if s["id"] in orphaned), 60, procs)
        incidents = client.incidents()
        per_camera = Counter(i["source"] for i in incidents)
        assert per_camera == Counter({f"cam{i}": 1 for i in range(CAMERAS)}), per_camera
        assert all(i["ended_at"] is None for i in incidents)  # continued, not closed by the handover
    finally:
        for p in [*workers.values(), api]:
            p.stop()
        r.close()
