"""Reliability of the live worker with many sources on real RTSP servers.

36 sources on two GStreamer RTSP servers (18 each) serving small H.264 files. Cycles: server A dies
(SIGTERM) and comes back on the same port, server B hangs (SIGSTOP) and comes back (SIGCONT). The
worker must never crash, the other server's sources keep being analysed meanwhile, every source of
the returned server streams again within the backoff cap (plus the connect time), and repeated cycles
must not leak threads, file descriptors or memory. Growth bounds, not speed, are asserted.
"""
from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from models.registry import ENV_DIRS
from streetsight.bench.rtsp import RtspServer, rtsp_server_unavailable
from streetsight.config import parse_config
from streetsight.pipeline import LivePipeline
from streetsight.runtime import Runtime
from tests.media import encode_h264
from tests.tiny_yolo import register_tiny_yolo
from tests.real_parts import missing_real_part

pytestmark = pytest.mark.rtsp

PER_SERVER = 18  # 36 sources in all
BACKOFF_MAX_S = 2.0
OPEN_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 2.0
# From a server's return to streaming: the backoff wait still running (<= cap), one connect, the first
# packets; the slack absorbs a loaded CI machine (this bounds a behaviour, it is not a speed goal).
BACK_WITHIN_S = BACKOFF_MAX_S + OPEN_TIMEOUT_S + 10.0
CYCLES = 4


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``condition``; returns the seconds it took. The timeout only bounds a hung test."""
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


def resources() -> dict[str, float]:
    gc.collect()
    proc = psutil.Process()
    return {"threads": proc.num_threads(), "py_threads": threading.active_count(),
            "fds": proc.num_fds(), "rss_mb": proc.memory_info().rss / 2**20}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (reason := rtsp_server_unavailable()) is not None:
        missing_real_part(reason)
    # small and long: every (re)connection starts at the file's beginning, the file must outlast the test
    return encode_h264(tmp_path_factory.mktemp("reliability") / "cam.mp4", seconds=400, fps=10,
                       size=(160, 120), gop=10)


def test_worker_survives_dying_and_hanging_servers_without_leaks(media: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_DIRS, str(register_tiny_yolo(tmp_path / "models")))
    server_a = RtspServer({f"a{i:02d}": media for i in range(PER_SERVER)}).start()
    server_b = RtspServer({f"b{i:02d}": media for i in range(PER_SERVER)}).start()
    servers = {"a": server_a, "b": server_b}
    try:
        sources = [{"id": f"{name}-{mount}", "url": srv.url(mount), "decode": "keyframes", "analysis_fps": 2,
                    "kind": "enforcement" if i % 3 == 0 else "cctv"}
                   for name, srv in servers.items() for i, mount in enumerate(srv.mounts)]
        cfg = parse_config({
            "sources": sources,
            "model": {"name": "tiny-yolo", "threads": 1},
            "storage": {"data_dir": str(tmp_path / "data")},
            "evidence": {"buffer_s": 5, "pre_roll_s": 2, "post_roll_s": 2},
            "streams": {"open_timeout_s": OPEN_TIMEOUT_S, "read_timeout_s": READ_TIMEOUT_S,
                        "backoff_initial_s": 0.2, "backoff_max_s": BACKOFF_MAX_S},
        })
        rt = Runtime.create(cfg)
        pipeline = LivePipeline(cfg, rt.detector, rt.recorder)
        ids = {name: [s["id"] for s in sources if s["id"].startswith(f"{name}-")] for name in servers}
        worker = threading.Thread(target=pipeline.run, name="pipeline", daemon=True)
        worker.start()

        retry_delays: list[float] = []  # every backoff wait seen while polling

        def health() -> dict[str, dict]:
            out = {h["id"]: h for h in pipeline.health()}
            retry_delays.extend(h["next_retry_wall"] - h["last_error_wall"] for h in out.values()
                                if h["state"] == "backing_off" and h["next_retry_wall"] and h["last_error_wall"])
            return out

        def streaming_since(names: list[str], since: float) -> bool:
            """Every source named is streaming with an analysed frame that arrived after ``since``."""
            h = health()
            return all(h[s]["state"] == "streaming" and (h[s]["last_frame_wall"] or 0) > since for s in names)

        wait_until(lambda: streaming_since(ids["a"] + ids["b"], 0), 60, "all 36 sources streaming")
        samples = [resources()]
        back_after: list[float] = []
        try:
            for cycle in range(CYCLES):
                # --- A dies, B keeps streaming -----------------------------------------------------
                server_a.stop()
                died = time.time()
                wait_until(lambda: all(health()[s]["state"] != "streaming" for s in ids["a"]), 30,
                           "A's sources to notice")
                wait_until(lambda: streaming_since(ids["b"], died), 30, "B's sources to go on meanwhile")
                time.sleep(4.0)  # long enough for the doubling waits to reach the cap
                server_a.start()
                returned = time.time()
                back_after.append(wait_until(lambda: streaming_since(ids["a"], returned), 60,
                                             f"A's sources back (cycle {cycle})"))
                # --- B hangs, A keeps streaming ----------------------------------------------------
                server_b.pause()
                hung = time.time()
                try:
                    # stalled first, then the read timeout drops the connection: backing off / connecting
                    wait_until(lambda: all(health()[s]["state"] in ("backing_off", "connecting")
                                           for s in ids["b"]), 30, "B's sources to time out")
                    wait_until(lambda: streaming_since(ids["a"], hung), 30, "A's sources to go on meanwhile")
                    time.sleep(1.0)
                finally:
                    server_b.resume()
                resumed = time.time()
                back_after.append(wait_until(lambda: streaming_since(ids["b"], resumed), 60,
                                             f"B's sources back (cycle {cycle})"))
                assert worker.is_alive(), "the worker stopped"
                wait_until(lambda: streaming_since(ids["a"] + ids["b"], resumed), 60, "everything streaming")
                samples.append(resources())
        finally:
            pipeline.stop()
            worker.join(30)
        final = health()
    finally:
        for srv in servers.values():
            srv.stop()

    print(f"back after {[round(s, 1) for s in back_after]} s; longest backoff wait {max(retry_delays):.2f} s; "
          f"resources per cycle {samples}")
    assert not worker.is_alive()  # it ended because we stopped it, not by crashing
    assert all(t.error is None for t in pipeline.sources.values())
    assert max(back_after) <= BACK_WITHIN_S
    assert retry_delays and max(retry_delays) <= BACKOFF_MAX_S + 1e-6  # the cap holds however long the outage
    assert all(final[s]["reconnects"] >= CYCLES for s in final), {s: final[s]["reconnects"] for s in final}
    # Leaks: compare after the first cycle (buffers and pools warmed up) with after the last.
    first, last = samples[1], samples[-1]
    assert last["threads"] <= first["threads"] + 2
    assert last["py_threads"] <= first["py_threads"]
    assert last["fds"] <= first["fds"] + 4
    assert last["rss_mb"] - first["rss_mb"] <= 40.0
    # Stopping released the sources' threads.
    assert sum(t.alive for t in pipeline.sources.values()) == 0
