"""`streetsight bench`: measured figures of this machine, written to ``var/bench/<kind>-<time>.json``.

    streetsight bench streams --sources 16 --duration 60 --json     ours vs the Ultralytics baseline
    streetsight bench capacity --duration 30                        most sources sustained at keyframe rate
    streetsight bench bus --events 5000 --json                      Redis event bus: worker call -> stored record
    streetsight bench plates --per-height 40                        plate-read accuracy by plate height (px)
    streetsight bench stats --incidents 20000,200000                GET /api/v1/stats: Python vs SQL aggregation
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streetsight.commands import add_json_option, print_json


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"{text}: width and height must be even and positive")
    return w, h


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks: streams vs the Ultralytics baseline, capacity, bus")
    sub = bench.add_subparsers(dest="bench_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--duration", type=_positive(float), default=60.0, help="measured seconds (after warm-up)")
        p.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
        p.add_argument("--size", type=_size, default=(1280, 720), help="video size, WIDTHxHEIGHT (default 1280x720)")
        p.add_argument("--fps", type=_positive(int), default=25)
        p.add_argument("--gop", type=_positive(int), default=50, help="frames per GOP (keyframe interval)")
        p.add_argument("--bitrate", type=_positive(int), default=2000, help="kbit/s")
        p.add_argument("--imgsz", type=_positive(int), default=320, help="model input size (square)")
        p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
        p.add_argument("--max-batch", type=_positive(int), default=16)
        p.add_argument("--providers", default="CPUExecutionProvider",
                       help="our side's onnxruntime execution providers, comma-separated, in order of "
                            "preference (e.g. TensorrtExecutionProvider,CUDAExecutionProvider); the one "
                            "that runs is reported")
        p.add_argument("--hwaccel", help="our side decodes analysed frames on this hardware device type "
                                         "(streams.hwaccel: cuda, vaapi...; default: the CPU)")
        p.add_argument("--out", type=Path, default=Path("var/bench"), help="results and cached media/models")
        add_json_option(p)

    streams = sub.add_parser("streams", help="our pipeline vs Ultralytics' streaming predictor on N RTSP streams")
    streams.add_argument("--sources", type=_positive(int), default=16)
    streams.add_argument("--no-baseline", action="store_true", help="skip the Ultralytics side")
    streams.add_argument("--no-inference-check", action="store_true",
                         help="skip the inference-bound comparison with bare onnxruntime")
    common(streams)
    streams.set_defaults(func=cmd_streams)

    capacity = sub.add_parser("capacity", help="the most sources this machine sustains at keyframe rate")
    capacity.add_argument("--start", type=_positive(int), default=8, help="first number of sources tried")
    capacity.add_argument("--max-sources", type=_positive(int), default=256)
    capacity.add_argument("--model", help="a registered model (default: YOLO11n exported at --imgsz)")
    common(capacity)
    capacity.set_defaults(func=cmd_capacity, duration=30.0)

    bus = sub.add_parser("bus", help="the Redis event bus: publish and end-to-end throughput, latency")
    bus.add_argument("--events", type=_positive(int), default=5000, help="events published (half incidents, "
                     "half evidence)")
    bus.add_argument("--out", type=Path, default=Path("var/bench"), help="folder of the result file")
    add_json_option(bus)
    bus.set_defaults(func=cmd_bus)

    plates = sub.add_parser("plates", help="exact plate reads by plate height on rendered plates")
    plates.add_argument("--heights", type=lambda t: [_positive(int)(v) for v in t.split(",")],
                        default=[16, 20, 24, 32, 40, 48, 64], help="plate heights in pixels, comma-separated")
    plates.add_argument("--per-height", type=_positive(int), default=40, help="plates read per height")
    plates.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    plates.add_argument("--out", type=Path, default=Path("var/bench"), help="folder of the result file")
    add_json_option(plates)
    plates.set_defaults(func=cmd_plates)

    stats = sub.add_parser("stats", help="the statistics computed in Python (old) and in SQL (new), side by side, "
                                         "on SQLite and PostgreSQL")
    stats.add_argument("--incidents", type=lambda t: [_positive(int)(v) for v in t.split(",")],
                       default=[20_000, 200_000], help="incidents in the 30-day period, comma-separated sizes")
    stats.add_argument("--history", type=float, default=1.0,
                       help="incidents before the period, as a multiple of --incidents (the query skips them)")
    stats.add_argument("--backends", type=_backends, default=["sqlite", "postgresql"],
                       help="comma-separated: sqlite, postgresql")
    stats.add_argument("--postgres-url", help="an empty PostgreSQL database to fill (one size only); default: a "
                                              "private cluster from Debian's postgresql binaries")
    stats.add_argument("--runs", type=_positive(int), default=3, help="calls of each path per grouping (median)")
    stats.add_argument("--cameras", type=_positive(int), default=350)
    stats.add_argument("--out", type=Path, default=Path("var/bench"), help="folder of the result file")
    add_json_option(stats)
    stats.set_defaults(func=cmd_stats)


def _backends(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in ("sqlite", "postgresql")]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"expected sqlite and/or postgresql, got {text!r}")
    return names


def _options(args: argparse.Namespace, **extra):
    from streetsight.bench.streams import StreamsBenchOptions

    return StreamsBenchOptions(duration_s=args.duration, warmup_s=args.warmup, size=args.size, fps=args.fps,
                               gop=args.gop, bitrate_kbps=args.bitrate, imgsz=args.imgsz, threads=args.threads,
                               max_batch=args.max_batch, work_dir=args.out,
                               providers=[p.strip() for p in args.providers.split(",") if p.strip()],
                               hwaccel=args.hwaccel, **extra)


def _say(text: str) -> None:
    print(f"streetsight bench: {text}", file=sys.stderr, flush=True)


def _finish(result: dict, args: argparse.Namespace, kind: str) -> int:
    from streetsight.bench.streams import write_result

    path = write_result(result, args.out, kind)
    print_json(result)  # the result is JSON with or without --json
    _say(f"written to {path}")
    return 0


def cmd_streams(args: argparse.Namespace) -> int:
    from streetsight.bench.streams import run_streams_bench

    opts = _options(args, sources=args.sources, baseline=not args.no_baseline,
                    inference_check=not args.no_inference_check)
    return _finish(run_streams_bench(opts, log=_say), args, "streams")


def cmd_capacity(args: argparse.Namespace) -> int:
    from streetsight.bench.capacity import run_capacity

    opts = _options(args, sources=args.start, baseline=False, inference_check=False)
    return _finish(run_capacity(opts, args.max_sources, model=args.model, log=_say), args, "capacity")


def cmd_bus(args: argparse.Namespace) -> int:
    from streetsight.bench.bus import run_bus_bench

    return _finish(run_bus_bench(args.events, log=_say), args, "bus")


def cmd_plates(args: argparse.Namespace) -> int:
    from streetsight.bench.plates import run_plate_bench

    return _finish(run_plate_bench(args.heights, args.per_height, threads=args.threads, log=_say), args, "plates")


def cmd_stats(args: argparse.Namespace) -> int:
    from streetsight.bench.postgres_server import postgres_bin_dir
    from streetsight.bench.stats import run_stats_bench
    from streetsight.commands import CliError

    if args.postgres_url and len(args.incidents) > 1:
        raise CliError("--postgres-url: one database holds one size; give one --incidents value")
    if "postgresql" in args.backends and not args.postgres_url and postgres_bin_dir() is None:
        raise CliError("--backends: postgresql needs --postgres-url or Debian's postgresql (apt-get install postgresql)")
    result = run_stats_bench(args.incidents, args.backends, postgres_url=args.postgres_url, runs=args.runs,
                             history=args.history, cameras=args.cameras, log=_say)
    return _finish(result, args, "stats")
