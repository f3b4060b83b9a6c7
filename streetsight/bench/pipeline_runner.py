"""Our side of the benchmark: the live pipeline on a config, in its own process so that its CPU time is its own.

    python -m streetsight.bench.pipeline_runner --config bench.yaml

Prints ``READY`` once every source has had a frame analysed; on stdin ``mark`` prints ``MARK {json}``
(cumulative counts at that moment, and the latency window restarts at the first mark), ``stop`` stops
the pipeline and prints ``DONE {json}`` (latency percentiles, batch sizes).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time

from streetsight.config import load_config
from streetsight.pipeline import LivePipeline
from streetsight.runtime import Runtime


def counts(pipeline: LivePipeline) -> dict:
    health = pipeline.health()
    per_source = {h["id"]: h["analysed_frames"] for h in health}
    return {
        "t": time.time(),
        "analysed": sum(per_source.values()),
        "per_source": per_source,
        "dropped": sum(h["dropped_frames"] for h in health),
        "decoded": sum(h["decoded_frames"] for h in health),
        "packets": sum(h["packets"] for h in health),
        "reconnects": sum(h["reconnects"] for h in health),
        "streaming": sum(1 for h in health if h["state"] == "streaming"),
        **pipeline.metrics.totals,
        "session_s": pipeline.split.detector.session_seconds,
        "session_cpu_s": pipeline.split.detector.session_cpu_seconds,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config)
    rt = Runtime.create(cfg, live=True)
    pipeline = LivePipeline(cfg, rt.detector, rt.recorder, realtime_files=True)
    worker = threading.Thread(target=pipeline.run, name="pipeline", daemon=True)
    worker.start()

    def announce_ready() -> None:
        while worker.is_alive():
            if all(h["analysed_frames"] > 0 for h in pipeline.health()):
                print("READY", flush=True)
                return
            time.sleep(0.2)

    threading.Thread(target=announce_ready, daemon=True).start()
    marked = False
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "mark":
            if not marked:
                pipeline.metrics.reset_latency_window()
                marked = True
            print("MARK " + json.dumps(counts(pipeline)), flush=True)
        elif cmd == "stop":
            break
    final = counts(pipeline)
    decoders = sorted({h.get("decoder", "cpu") for h in pipeline.health()})
    latency = {f"p{int(q * 100)}": pipeline.metrics.latency_quantile(q) for q in (0.5, 0.95, 0.99)}
    pipeline.stop()
    worker.join(timeout=30)
    print("DONE " + json.dumps({**final, "latency_s": latency, "provider": rt.detector.detector.provider,
                                  "decoders": decoders}),
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
