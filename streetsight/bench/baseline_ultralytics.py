"""The benchmark's baseline: Ultralytics' streaming predictor on RTSP streams, as a user would run it.

Run by the TRAINING venv's Python as a script (torch and ultralytics never enter the serving install):

    .venv-train/bin/python streetsight/bench/baseline_ultralytics.py --model M.onnx --streams S.streams \
        --vid-stride 50 --imgsz 320

``YOLO(model)(source=<.streams file>, stream=True, vid_stride=...)``: one reader thread per stream that
decodes every frame (OpenCV/FFmpeg ``grab()``) and keeps every ``vid_stride``-th, batches of one frame per
stream. Talks to the benchmark like ``pipeline_runner``: prints ``READY`` once every stream gave a
result; on stdin ``mark`` prints ``MARK {json counts}``, ``stop`` prints ``DONE {json}`` and exits.
Stdlib and ultralytics only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--streams", required=True, help="a .streams file: one URL per line")
    ap.add_argument("--vid-stride", type=int, required=True)
    ap.add_argument("--imgsz", type=int, required=True)
    ap.add_argument("--conf", type=float, default=0.25)
    args = ap.parse_args()

    from ultralytics import YOLO

    n_streams = sum(1 for line in open(args.streams) if line.strip())
    counts: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    ready = threading.Event()

    def snapshot() -> dict:
        with lock:
            return {"t": time.time(), "analysed": sum(counts.values()), "per_source": dict(counts)}

    def commands() -> None:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "mark":
                print("MARK " + json.dumps(snapshot()), flush=True)
            elif cmd == "stop":
                break
        stop.set()

    threading.Thread(target=commands, daemon=True).start()
    model = YOLO(args.model, task="detect")
    results = model(source=args.streams, stream=True, vid_stride=args.vid_stride, imgsz=args.imgsz,
                    conf=args.conf, verbose=False)
    error = None
    try:
        for r in results:
            with lock:
                counts[r.path] = counts.get(r.path, 0) + 1
                all_seen = len(counts) >= n_streams
            if all_seen and not ready.is_set():
                ready.set()
                print("READY", flush=True)
            if stop.is_set():
                break
    except Exception as exc:  # noqa: BLE001 - reported to the benchmark, which decides
        error = f"{type(exc).__name__}: {exc}"
    if not stop.is_set() and error is None:
        error = "the streams ended"
    print("DONE " + json.dumps({**snapshot(), "error": error}), flush=True)
    sys.stdout.flush()
    os._exit(0)  # the loader's reader threads may sit in a blocking grab(): do not wait for them


if __name__ == "__main__":
    raise SystemExit(main())
