"""Threads or processes for the readers? Measures both on the same RTSP mounts (no model involved).

    python -m streetsight.bench.concurrency --sources 64 --duration 30 [--processes 1 2] [--read-batch 0 0.25]

For each layout: N sources read (keyframes decoded, frames converted to BGR, packets into rings)
by P processes of N/P reader threads each, for each ``streams.read_batch_s`` given (default: the
configuration's). Prints the CPU seconds per stream-minute of the readers' process trees and the
frames delivered against the keyframes offered, as JSON lines. asyncio is not a candidate:
PyAV/FFmpeg reads block, so an event loop would still need a thread per source.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from streetsight.bench.media import camera_clip
from streetsight.bench.rtsp import RtspServer
from streetsight.bench.runner import tree_cpu_seconds
from streetsight.config import StreamsConfig


def read_sources(urls: list[str], seconds: float, analysis_fps: float, read_batch_s: float) -> int:
    """Run one reader thread per URL for ``seconds``; returns the frames delivered."""
    from streams.live import ReaderThread
    from streams.packets import PacketRing
    from streams.reader import SourceReader

    count = [0]
    lock = threading.Lock()

    def sink(_frame) -> None:
        with lock:
            count[0] += 1

    threads = [ReaderThread(SourceReader(f"s{i}", url, analysis_fps=analysis_fps, decode="keyframes",
                                         ring=PacketRing(30, 64 << 20), read_batch_s=read_batch_s), sink)
               for i, url in enumerate(urls)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    for t in threads:
        t.reader.stop()
    for t in threads:
        t.join(10)
    return count[0]


def measure(urls: list[str], processes: int, warmup_s: float, seconds: float, analysis_fps: float,
            keyframe_fps: float, read_batch_s: float) -> dict:
    shards = [urls[i::processes] for i in range(processes)]
    procs = [subprocess.Popen([sys.executable, "-m", "streetsight.bench.concurrency", "--child",
                               str(warmup_s + seconds), str(analysis_fps), str(read_batch_s), *shard],
                              stdout=subprocess.PIPE, text=True) for shard in shards]
    time.sleep(warmup_s)
    cpu0 = sum(tree_cpu_seconds(p.pid) for p in procs)
    time.sleep(seconds)
    cpu1 = sum(tree_cpu_seconds(p.pid) for p in procs)
    delivered = sum(int(p.communicate()[0].strip() or 0) for p in procs)
    n = len(urls)
    return {"sources": n, "processes": processes, "threads_per_process": -(-n // processes),
            "read_batch_s": read_batch_s,
            "cpu_s_per_stream_minute": round((cpu1 - cpu0) / (n * seconds / 60), 3),
            "delivered_vs_offered": round(delivered / (n * (warmup_s + seconds) * keyframe_fps), 3)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        print(read_sources(argv[4:], float(argv[1]), float(argv[2]), float(argv[3])), flush=True)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", type=int, default=64)
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--read-batch", type=float, nargs="+", default=[StreamsConfig().read_batch_s],
                    help="streams.read_batch_s values to measure (0: read every packet as it arrives)")
    ap.add_argument("--gop", type=int, default=50)
    ap.add_argument("--size", default="1280x720", help="video size, WIDTHxHEIGHT")
    ap.add_argument("--bitrate", type=int, default=2000, help="kbit/s")
    ap.add_argument("--out", type=Path, default=Path("var/bench"))
    args = ap.parse_args(argv)
    fps = 25
    width, height = (int(v) for v in args.size.lower().split("x"))
    media = camera_clip(args.out / "media", args.duration + args.warmup + 120, (width, height), fps, args.gop,
                        args.bitrate)
    with RtspServer({f"c{i:03d}": media for i in range(args.sources)}) as server:
        urls = list(server.urls.values())
        for p in args.processes:
            for batch in args.read_batch:
                result = measure(urls, p, args.warmup, args.duration, 1.5 * fps / args.gop, fps / args.gop, batch)
                result["video"] = f"{width}x{height} GOP {args.gop} {args.bitrate} kbit/s"
                result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
                print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
