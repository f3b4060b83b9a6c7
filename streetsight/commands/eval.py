"""`streetsight eval`: event-level precision/recall/F1 and time-to-detection on labelled videos."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streetsight.commands import add_json_option, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="score the configured rules against labelled videos")
    p.add_argument("--annotations", required=True, type=Path,
                   help="folder of annotation JSON files, one per video (ours or the Tianchi layout)")
    p.add_argument("--videos", required=True, type=Path, help="folder with the videos")
    p.add_argument("--config", required=True, help="the deployment config: rules, zones (of the source named "
                   "by the annotation or the video, else the first), model")
    p.add_argument("--out", type=Path, default=Path("eval-report"), help="report folder (default ./eval-report)")
    p.add_argument("--detections", type=Path,
                   help="replay <video>.detections.json from this folder instead of running the model")
    add_json_option(p)
    p.add_argument("--learning", action="store_true",
                   help="learning mode: replay the incidents in time order, feed the first K review decisions "
                        "(from the labels) to the per-camera verifier, report precision and recall after each "
                        "step (learning.json, learning.png)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streetsight.config import load_config
    from streetsight.evaluation.annotations import AnnotationError
    from streetsight.evaluation.evaluate import evaluate

    cfg = load_config(args.config)
    for folder, name in ((args.annotations, "--annotations"), (args.videos, "--videos")):
        if not folder.is_dir():
            print(f"streetsight eval: {name}: no such folder {folder}", file=sys.stderr)
            return 2
    try:
        if args.learning:
            from streetsight.evaluation.learning import evaluate_learning

            report = evaluate_learning(cfg, args.annotations, args.videos, args.out, args.detections,
                                       str(args.config))
        else:
            report = evaluate(cfg, args.annotations, args.videos, args.out, args.detections, str(args.config))
    except AnnotationError as exc:
        print(f"streetsight eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(report)
    elif args.learning:
        print_learning(report, args.out)
    else:
        print(f"{'type':<20}{'TP':>4}{'FP':>4}{'FN':>4}{'prec':>7}{'recall':>8}{'F1':>7}{'TTD med':>9}")
        for t, s in report["scores"].items():
            def f(v):
                return "   –" if v is None else f"{v:.2f}"
            print(f"{t:<20}{s['tp']:>4}{s['fp']:>4}{s['fn']:>4}{f(s['precision']):>7}{f(s['recall']):>8}"
                  f"{f(s['f1']):>7}{f(s['ttd_median_s']):>9}")
        plates = report.get("plates")
        if plates is not None:
            print(f"plates: {plates['exact']}/{plates['labelled']} read exactly ({plates['exact_rate']:.0%}), "
                  f"{plates['uncertain']} uncertain")
        print(f"report: {args.out / 'report.md'}")
    return 0


def print_learning(report: dict, out: Path) -> None:
    def f(v):
        return "   –" if v is None else f"{v:.2f}"

    for name, block in [*report["cameras"].items(), ("all", report["all"])]:
        print(f"{name} ({block['events']} labelled events)")
        print(f"{'decisions':>10}{'TP':>4}{'FP':>4}{'FN':>4}{'prec':>7}{'recall':>8}{'FP removed':>12}{'TP lost':>9}")
        for s in block["steps"]:
            print(f"{s['decisions']:>10}{s['tp']:>4}{s['fp']:>4}{s['fn']:>4}{f(s['precision']):>7}{f(s['recall']):>8}"
                  f"{s['fp_removed']:>12}{s['tp_lost']:>9}")
    print(f"report: {out / 'learning.json'}, {out / 'learning.png'}")
