"""`streetsight detect IMAGE... [--model NAME] [--json]`: the detector on still images."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from streetsight.commands import add_json_option, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    d = subparsers.add_parser("detect", help="run the detector on images")
    d.add_argument("images", nargs="+")
    d.add_argument("--model", default="nanodet-coco")
    d.add_argument("--min-score", type=float, default=0.3)
    add_json_option(d)
    d.set_defaults(func=cmd_detect)


def cmd_detect(args: argparse.Namespace) -> int:
    import cv2

    from models.detector import OnnxDetector

    detector = OnnxDetector.from_registry(args.model, min_score=args.min_score)
    results: list[dict[str, Any]] = []
    for path in args.images:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            print(f"streetsight detect: cannot read image {path}", file=sys.stderr)
            return 2
        raw = detector.detect([image])[0]
        results.append({"image": path, "detections": [
            {"class": detector.class_names[int(c)], "class_id": int(c), "score": round(float(s), 4),
             "box": [round(float(v), 1) for v in box]}
            for box, s, c in zip(raw.xyxy, raw.scores, raw.class_ids)
        ]})
    if args.json:
        print_json(results)
    else:
        for r in results:
            print(r["image"])
            for d in r["detections"]:
                print(f"  {d['class']:<14} {d['score']:.2f}  {d['box']}")
    return 0
