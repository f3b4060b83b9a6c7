"""``streetsight bench streams``: our pipeline against Ultralytics' streaming predictor on the same RTSP mounts.

One run: encode camera-like H.264 (cached), serve it on N mounts of a real RTSP server, then run each
side in its own process on all N mounts: ours (keyframes only, batched ONNX), then the baseline
(``YOLO(model)(source=<.streams>, stream=True, vid_stride=GOP)``), both on the same YOLO ONNX at the same
analysed frames per second per source. CPU seconds are read from the OS for each side's process tree
over the same measuring window, after a warm-up. Optionally, an inference-bound phase compares the
pipeline's analysed frames per second with bare onnxruntime on the same model and threads.
"""
from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from streetsight.bench.media import camera_clip
from streetsight.bench.rtsp import RtspServer, rtsp_server_unavailable
from streetsight.bench.runner import RunnerProcess
from streetsight.bench.ultralytics_env import bench_model, offline_env, train_python

BASELINE_SCRIPT = Path(__file__).with_name("baseline_ultralytics.py")
INFERENCE_CHECK_SIZE = (640, 360)


@dataclass
class StreamsBenchOptions:
    sources: int = 16
    duration_s: float = 60.0
    warmup_s: float = 10.0
    size: tuple[int, int] = (1280, 720)
    fps: int = 25
    gop: int = 50
    bitrate_kbps: int = 2000
    imgsz: int = 320
    threads: int = 1
    max_batch: int = 16
    providers: list[str] = field(default_factory=lambda: ["CPUExecutionProvider"])
    hwaccel: str | None = None  # streams.hwaccel of our side
    baseline: bool = True
    inference_check: bool = True
    work_dir: Path = Path("var/bench")

    @property
    def keyframe_fps(self) -> float:
        return self.fps / self.gop


def window_figures(m0: dict, m1: dict, cpu0: float, cpu1: float, sources: int) -> dict:
    """Rates and CPU per stream-minute over the window between two marks."""
    span = max(1e-6, m1["t"] - m0["t"])
    cpu = cpu1 - cpu0
    return {
        "window_s": round(span, 2),
        "cpu_s": round(cpu, 2),
        "cpu_cores": round(cpu / span, 3),
        "cpu_s_per_stream_minute": round(cpu / (sources * span / 60.0), 3),
        "analysed_fps_per_source": round((m1["analysed"] - m0["analysed"]) / span / sources, 3),
        "min_source_analysed_fps": round(min(
            (m1["per_source"].get(k, 0) - m0["per_source"].get(k, 0)) / span for k in m1["per_source"]), 3)
        if m1.get("per_source") else 0.0,
    }


def pipeline_config(opts: StreamsBenchOptions, urls: list[str], model: str, data_dir: Path,
                    analysis_fps: float) -> dict:
    return {
        "sources": [{"id": f"cam{i:03d}", "url": url, "kind": "cctv", "decode": "keyframes",
                     "analysis_fps": analysis_fps,
                     "zones": [{"id": "kerb", "events": ["illegal_parking"],
                                "polygon": [[0.6, 0.5], [1.0, 0.5], [1.0, 1.0], [0.6, 1.0]]}]}
                    for i, url in enumerate(urls)],
        "model": {"name": model, "threads": opts.threads, "min_score": 0.25, "max_batch": opts.max_batch,
                  "providers": list(opts.providers)},
        "storage": {"data_dir": str(data_dir)},
        "streams": {"read_timeout_s": 10, "open_timeout_s": 10, "hwaccel": opts.hwaccel},
    }


def run_side(runner: RunnerProcess, opts: StreamsBenchOptions, sources: int, ready_timeout_s: float = 180) -> dict:
    """READY, warm-up, a measured window of ``duration_s``, stop."""
    try:
        runner.wait_for("READY", ready_timeout_s)
        time.sleep(opts.warmup_s)
        m0, cpu0 = runner.mark()
        time.sleep(opts.duration_s)
        m1, cpu1 = runner.mark()
        rss = runner.rss_bytes()
        done = runner.stop()
    finally:
        runner.close()
    figures = window_figures(m0, m1, cpu0, cpu1, sources)
    figures["rss_mb_per_source"] = round(rss / sources / 2**20, 2)
    figures["rss_mb"] = round(rss / 2**20, 1)
    return {"figures": figures, "m0": m0, "m1": m1, "done": done}


def run_ours(opts: StreamsBenchOptions, urls: list[str], model: str, analysis_fps: float, tag: str) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-{tag}-") as tmp:
        cfg_path = Path(tmp) / "bench.yaml"
        cfg_path.write_text(yaml.safe_dump(pipeline_config(opts, urls, model, Path(tmp) / "data", analysis_fps)))
        runner = RunnerProcess(f"pipeline ({tag})", [sys.executable, "-m", "streetsight.bench.pipeline_runner",
                                                      "--config", str(cfg_path)], env=dict(os.environ))
        side = run_side(runner, opts, len(urls))
    m0, m1, done = side["m0"], side["m1"], side["done"]
    f = side["figures"]
    f["dropped_frames"] = m1["dropped"] - m0["dropped"]
    f["decoded_frames"] = m1["decoded"] - m0["decoded"]
    f["reconnects"] = m1["reconnects"] - m0["reconnects"]
    batches = m1["batches"] - m0["batches"]
    frames = m1["batch_frames"] - m0["batch_frames"]
    f["mean_batch_size"] = round(frames / batches, 2) if batches else 0.0
    span = max(1e-6, m1["t"] - m0["t"])
    f["inference_fps"] = round(frames / span, 2)
    # share of the window the model was running: how well the pipeline keeps it fed when inference-bound
    f["model_busy"] = round((m1["session_s"] - m0["session_s"]) / span, 3)
    f["model_cpu_s"] = round(m1["session_cpu_s"] - m0["session_cpu_s"], 3)
    f["latency_p50_s"] = _round(done["latency_s"].get("p50"))
    f["latency_p95_s"] = _round(done["latency_s"].get("p95"))
    f["provider"] = done.get("provider")
    f["decoders"] = done.get("decoders")
    return f


def run_baseline(opts: StreamsBenchOptions, urls: list[str], onnx_path: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        streams_file = Path(tmp) / "cams.streams"
        streams_file.write_text("\n".join(urls) + "\n")
        env = offline_env(opts.work_dir.resolve() / "ultralytics")
        runner = RunnerProcess("ultralytics baseline", [
            str(train_python()), str(BASELINE_SCRIPT), "--model", str(onnx_path), "--streams", str(streams_file),
            "--vid-stride", str(opts.gop), "--imgsz", str(opts.imgsz)], env=env, cwd=tmp)
        side = run_side(runner, opts, len(urls))
    if side["done"].get("error"):
        side["figures"]["error"] = side["done"]["error"]
    return side["figures"]


def raw_onnxruntime_fps(model: str, threads: int, batch: int, image_size: tuple[int, int],
                        seconds: float = 10.0, providers: list[str] | None = None) -> dict:
    """Images per second of bare ``session.run`` on a preallocated batch: same model, threads and input
    shape as the pipeline's (rectangular for a dynamic graph, as for frames of ``image_size``)."""
    import numpy as np

    from models.detector import OnnxDetector

    det = OnnxDetector.from_registry(model, threads=threads, max_batch=batch, spin=False,
                                     providers=providers or ["CPUExecutionProvider"])
    h, w = det.preprocess.input_shape([(image_size[1], image_size[0])])
    feed = {det.manifest.input.name: np.random.default_rng(0).random((batch, 3, h, w), dtype=np.float32)}
    det.session.run(det.decoder.output_names, feed)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        det.session.run(det.decoder.output_names, feed)
        n += batch
    return {"fps": round(n / (time.perf_counter() - t0), 2), "batch": batch, "threads": threads,
            "input": [batch, 3, h, w], "provider": det.provider}


def inference_check(opts: StreamsBenchOptions, server_media: Path, model: str) -> dict:
    """Feed the pipeline more keyframes than the model can take (5 a second per source) and compare its
    analysed frames per second with bare onnxruntime: the pipeline's overhead when inference-bound."""
    raw_before = raw_onnxruntime_fps(model, opts.threads, opts.max_batch, INFERENCE_CHECK_SIZE,
                                     providers=opts.providers)
    per_source = 5.0
    sources = max(opts.sources, math.ceil(1.5 * raw_before["fps"] / per_source))
    mounts = {f"ib{i:03d}": server_media for i in range(sources)}
    with RtspServer(mounts) as server:
        urls = [server.url(name) for name in mounts]
        ours = run_ours(opts, urls, model, analysis_fps=per_source * 1.5, tag="inference-bound")
    raw_after = raw_onnxruntime_fps(model, opts.threads, opts.max_batch, INFERENCE_CHECK_SIZE,
                                     providers=opts.providers)
    raw = {**raw_before, "fps": round((raw_before["fps"] + raw_after["fps"]) / 2, 2),
           "fps_before_after": [raw_before["fps"], raw_after["fps"]]}
    return {"raw_onnxruntime_fps": raw["fps"], "raw": raw, "pipeline_inference_fps": ours["inference_fps"],
            "ratio": round(ours["inference_fps"] / raw["fps"], 3) if raw["fps"] else None,
            "sources": sources, "offered_fps": sources * per_source, "threads": opts.threads,
            "video": f"{INFERENCE_CHECK_SIZE[0]}x{INFERENCE_CHECK_SIZE[1]} GOP {max(1, opts.fps // 5)} (5 keyframes/s)",
            "model_busy": ours["model_busy"], "mean_batch_size": ours["mean_batch_size"],
            "dropped_frames": ours["dropped_frames"], "cpu_cores": ours["cpu_cores"]}


@dataclass(frozen=True)
class DecodeCost:
    """Frames decoded and the CPU seconds it took (this process's CPU time, not wall time)."""
    frames: int
    cpu_s: float


def keyframe_decode_cost(media: Path, keyframes: int = 40, hwaccel: str | None = None) -> DecodeCost:
    """Decode up to ``keyframes`` keyframes of ``media`` the way the reader does (one decoder thread, the
    keyframe alone, then drain and reset; on ``hwaccel`` when that device decodes)."""
    import av

    from streams.hwdecode import shared
    from streams.reader import decode_keyframe

    hw = shared(hwaccel).hwaccel() if hwaccel else None
    container = av.open(str(media), **({"hwaccel": hw} if hw is not None else {}))
    try:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        stream.codec_context.skip_frame = "NONKEY"
        spent, done = 0.0, 0
        for packet in container.demux(stream):
            if not (packet.is_keyframe and packet.size):
                continue
            t0 = time.process_time()
            done += len(decode_keyframe(stream, packet))
            spent += time.process_time() - t0
            if done >= keyframes:
                break
    finally:
        container.close()
    return DecodeCost(done, spent)


def keyframe_decode_ms(media: Path, keyframes: int = 40, hwaccel: str | None = None) -> float:
    """CPU milliseconds to decode one keyframe of ``media`` (see keyframe_decode_cost)."""
    cost = keyframe_decode_cost(media, keyframes, hwaccel)
    return 1000.0 * cost.cpu_s / max(1, cost.frames)


def cpu_floor(ours: dict, baseline: dict | None, decode_ms: float, keyframe_fps: float) -> dict:
    """What the model and keyframe decoding alone cost per stream-minute, both measured in this run, and the
    best ratio any pipeline that runs them on this CPU could reach against this baseline."""
    frames = ours["inference_fps"] * ours["window_s"]
    model_ms = 1000.0 * ours["model_cpu_s"] / frames if frames else 0.0
    per_minute = keyframe_fps * 60.0 / 1000.0
    floor = (model_ms + decode_ms) * per_minute
    return {
        "model_ms_per_frame": round(model_ms, 2),
        "keyframe_decode_ms": round(decode_ms, 2),
        "model_s_per_stream_minute": round(model_ms * per_minute, 3),
        "decode_s_per_stream_minute": round(decode_ms * per_minute, 3),
        "floor_s_per_stream_minute": round(floor, 3),
        "rest_s_per_stream_minute": round(ours["cpu_s_per_stream_minute"] - floor, 3),
        "ratio_ceiling": round(baseline["cpu_s_per_stream_minute"] / floor, 2) if baseline and floor else None,
    }


def _round(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(v, nd)


def host_facts() -> dict:
    load = os.getloadavg()
    return {"cores": os.cpu_count(), "load_avg_1_5_15": [round(x, 2) for x in load],
            "cpu": _cpu_model()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def run_streams_bench(opts: StreamsBenchOptions, log=print) -> dict:
    if (why := rtsp_server_unavailable()) is not None:
        raise RuntimeError(why)
    started = time.time()
    host_before = host_facts()
    registry = opts.work_dir / "models"
    model = bench_model(registry, opts.imgsz)
    from models.registry import find_model

    onnx_path = find_model(model).model_path.resolve()
    length = opts.duration_s + opts.warmup_s + 180  # every client starts at the file's beginning
    media = camera_clip(opts.work_dir / "media", length, opts.size, opts.fps, opts.gop, opts.bitrate_kbps)
    mounts = {f"cam{i:03d}": media for i in range(opts.sources)}
    # Keyframes are the analysed frames; the rate cap sits above the keyframe rate so that timestamp
    # jitter never skips one.
    analysis_fps = min(60.0, opts.keyframe_fps * 1.5)
    result: dict = {"sources": opts.sources}
    with RtspServer(mounts) as server:
        urls = [server.url(name) for name in mounts]
        log(f"ours: {opts.sources} sources, {opts.duration_s:.0f} s window after {opts.warmup_s:.0f} s warm-up")
        ours = run_ours(opts, urls, model, analysis_fps, tag="ours")
        baseline = None
        if opts.baseline:
            log("baseline: Ultralytics streaming predictor on the same mounts")
            baseline = run_baseline(opts, urls, onnx_path)
    inference = None
    if opts.inference_check:
        log("inference-bound check: pipeline vs bare onnxruntime")
        # Smaller frames (the model input is the same 320x192 after letterboxing): decoding 5 keyframes a
        # second per source must not be what limits this phase, or it measures decoding, not the pipeline.
        ib_media = camera_clip(opts.work_dir / "media", length, INFERENCE_CHECK_SIZE, opts.fps,
                               max(1, opts.fps // 5), 800)
        inference = inference_check(opts, ib_media, model)
    floor = cpu_floor(ours, baseline, keyframe_decode_ms(media, hwaccel=opts.hwaccel), opts.keyframe_fps)
    target = opts.keyframe_fps
    ours["kept_up"] = ours["min_source_analysed_fps"] >= 0.9 * target
    if baseline is not None:
        baseline["kept_up"] = baseline["min_source_analysed_fps"] >= 0.9 * target
    notes = []
    if baseline is not None and not baseline["kept_up"]:
        notes.append(f"the baseline fell behind ({baseline['min_source_analysed_fps']} of {target:.2f} fps per "
                     "source): it still decoded every frame but ran the model less often, so its CPU per "
                     "stream-minute, and the ratio, are lower bounds")
    if opts.hwaccel and opts.hwaccel not in (ours.get("decoders") or []):
        notes.append(f"--hwaccel {opts.hwaccel} was asked for, but our side decoded on {ours.get('decoders')} "
                     "(the device did not decode the probe clip: see the warning in the log)")
    if not ours["kept_up"]:
        notes.append(f"our pipeline fell behind ({ours['min_source_analysed_fps']} of {target:.2f} fps per source)")
    result.update({
        "analysed_fps_per_source": ours["analysed_fps_per_source"],
        "cpu_s_per_stream_minute": ours["cpu_s_per_stream_minute"],
        "baseline": None if baseline is None else {
            "cpu_s_per_stream_minute": baseline["cpu_s_per_stream_minute"],
            "analysed_fps_per_source": baseline["analysed_fps_per_source"],
            **{k: v for k, v in baseline.items() if k not in ("cpu_s_per_stream_minute", "analysed_fps_per_source")},
        },
        "ratio": None if baseline is None or not ours["cpu_s_per_stream_minute"] else
        round(baseline["cpu_s_per_stream_minute"] / ours["cpu_s_per_stream_minute"], 2),
        "latency_p95_s": ours["latency_p95_s"],
        "rss_mb_per_source": ours["rss_mb_per_source"],
        "dropped_frames": ours["dropped_frames"],
        "ours": ours,
        # model + keyframe decode per stream-minute: the part of ours no reader or batching work removes
        "cpu_floor": floor,
        "inference": inference,
        "notes": notes,
        "setup": {"video": f"H.264 {opts.size[0]}x{opts.size[1]} {opts.fps} fps GOP {opts.gop} "
                           f"~{opts.bitrate_kbps} kbit/s, no B-frames, over RTSP/TCP",
                  "model": model, "imgsz": opts.imgsz, "onnx": str(onnx_path), "threads": opts.threads,
                  "max_batch": opts.max_batch, "providers": opts.providers, "hwaccel": opts.hwaccel,
                  "warmup_s": opts.warmup_s, "duration_s": opts.duration_s,
                  "keyframe_fps": opts.keyframe_fps, "baseline_vid_stride": opts.gop},
        "host": {**host_before, "load_avg_after": host_facts()["load_avg_1_5_15"]},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "wall_s": round(time.time() - started, 1),
    })
    return result


def write_result(result: dict, folder: Path, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return path
