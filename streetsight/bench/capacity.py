"""``streetsight bench capacity``: the most sources this machine sustains at keyframe rate.

Each trial serves N mounts of the benchmark's 720p camera clip on a real RTSP server and runs the live
pipeline on them (keyframes only). A trial passes when, over its measuring window, no frame was dropped,
every source was analysed at >= 90% of its keyframe rate, no source reconnected, and the p95 latency
stayed under two keyframe intervals (a growing backlog would break that). N doubles from ``--start``
until a trial fails, then bisects. The RTSP server runs on the same machine and its CPU is reported.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

import psutil

from models.registry import find_model
from streetsight.bench.media import camera_clip
from streetsight.bench.rtsp import RtspServer, rtsp_server_unavailable
from streetsight.bench.streams import StreamsBenchOptions, host_facts, run_ours
from streetsight.bench.ultralytics_env import bench_model


def trial_passes(figures: dict, keyframe_fps: float) -> tuple[bool, str]:
    if figures["dropped_frames"] > 0:
        return False, f"{figures['dropped_frames']} frames dropped"
    if figures["min_source_analysed_fps"] < 0.9 * keyframe_fps:
        return False, f"a source analysed at {figures['min_source_analysed_fps']} fps < 90% of {keyframe_fps:.2f}"
    if figures["reconnects"] > 0:
        return False, f"{figures['reconnects']} reconnects"
    p95 = figures.get("latency_p95_s")
    if p95 is None or p95 > 2.0 / keyframe_fps:
        return False, f"latency p95 {p95} s > two keyframe intervals"
    return True, "kept up"


def _server_cpu(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def run_trial(opts: StreamsBenchOptions, sources: int, model: str, media) -> dict:
    mounts = {f"cam{i:03d}": media for i in range(sources)}
    with RtspServer(mounts) as server:
        urls = [server.url(name) for name in mounts]
        cpu0, t0 = _server_cpu(server.pid), time.monotonic()
        figures = run_ours(opts, urls, model, analysis_fps=min(60.0, opts.keyframe_fps * 1.5), tag=f"capacity-{sources}")
        server_cores = (_server_cpu(server.pid) - cpu0) / (time.monotonic() - t0)
    ok, why = trial_passes(figures, opts.keyframe_fps)
    return {"sources": sources, "passed": ok, "why": why, "rtsp_server_cpu_cores": round(server_cores, 3),
            **{k: figures[k] for k in ("cpu_cores", "cpu_s_per_stream_minute", "analysed_fps_per_source",
                                      "min_source_analysed_fps", "dropped_frames", "latency_p95_s",
                                      "mean_batch_size", "inference_fps", "rss_mb_per_source", "reconnects")}}


def run_capacity(opts: StreamsBenchOptions, max_sources: int, model: str | None = None,
                 log: Callable[[str], None] = print) -> dict:
    if (why := rtsp_server_unavailable()) is not None:
        raise RuntimeError(why)
    started = time.time()
    host_before = host_facts()
    if model is None:
        model = bench_model(opts.work_dir / "models", opts.imgsz)
    find_model(model)  # a clear error now rather than in the runner
    length = opts.duration_s + opts.warmup_s + 180
    media = camera_clip(opts.work_dir / "media", length, opts.size, opts.fps, opts.gop, opts.bitrate_kbps)
    trials: list[dict] = []

    def attempt(n: int) -> bool:
        log(f"capacity: trying {n} sources")
        trial = run_trial(opts, n, model, media)
        trials.append(trial)
        log(f"capacity: {n} sources: {trial['why']} (pipeline {trial['cpu_cores']} cores, "
            f"RTSP server {trial['rtsp_server_cpu_cores']} cores)")
        return trial["passed"]

    good, bad = 0, None
    n = min(opts.sources, max_sources)
    while n <= max_sources:
        if attempt(n):
            good = n
            if n == max_sources:
                break
            n = min(max_sources, n * 2)
        else:
            bad = n
            break
    while bad is not None and bad - good > max(1, good // 8):  # bisect to ~12% resolution
        mid = (good + bad) // 2
        if attempt(mid):
            good = mid
        else:
            bad = mid
    cores = os.cpu_count() or 1
    best = next((t for t in trials if t["sources"] == good and t["passed"]), None)
    return {
        "max_sources": good,
        "first_failing": bad,
        "cores": cores,
        "sources_per_core": round(good / cores, 1),
        "at_max": best,
        "keyframe_fps": opts.keyframe_fps,
        "model": model,
        "setup": {"video": f"H.264 {opts.size[0]}x{opts.size[1]} {opts.fps} fps GOP {opts.gop} "
                           f"~{opts.bitrate_kbps} kbit/s over RTSP/TCP, served from this machine",
                  "threads": opts.threads, "max_batch": opts.max_batch, "duration_s": opts.duration_s,
                  "warmup_s": opts.warmup_s},
        "trials": trials,
        "host": {**host_before, "load_avg_after": host_facts()["load_avg_1_5_15"]},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_s": round(time.time() - started, 1),
    }
