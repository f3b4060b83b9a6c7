"""Latency of a registered detector on this machine: `python -m models.benchmark [--model NAME] [--threads N]`.

Measures detect() end to end (pre-processing, session, decode, NMS) and the session call alone, per
batch size, on a synthetic 416x416 frame (or --image). Prints one line per batch size; no assertions.
"""
from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from models.detector import OnnxDetector


def measure(det: OnnxDetector, images: list[np.ndarray], runs: int) -> tuple[float, float]:
    """Median milliseconds per call of detect() and of the bare session.run on the same batch."""
    det.detect(images)  # warm-up
    total, session = [], []
    feed = {det.manifest.input.name: det.preprocess.buffer[:len(images)]}
    for _ in range(runs):
        t0 = time.perf_counter()
        det.detect(images)
        t1 = time.perf_counter()
        det.session.run(det.decoder.output_names, feed)
        t2 = time.perf_counter()
        total.append(t1 - t0)
        session.append(t2 - t1)
    return statistics.median(total) * 1e3, statistics.median(session) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nanodet-coco")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--image", help="a BGR image file instead of the synthetic frame")
    args = ap.parse_args()
    det = OnnxDetector.from_registry(args.model, threads=args.threads)
    w, h = det.input_size
    img = cv2.imread(args.image) if args.image else \
        np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    for b in args.batch:
        total, session = measure(det, [img] * b, args.runs)
        print(f"{args.model} {img.shape[1]}x{img.shape[0]} threads={args.threads} batch={b}: "
              f"detect {total:.1f} ms/batch ({total / b:.1f} ms/image), session.run {session:.1f} ms/batch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
