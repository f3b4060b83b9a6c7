"""`python -m training ...` (what `streetsight train ...` runs in the training venv).

    run       dataset -> trained, exported, evaluated, registered (and promoted if better) model
    evaluate  a model (file or registered name) on a dataset split: mAP, per-class P/R, confusion matrix
    export    .pt -> .onnx
    register  an ONNX file as a new version of a model
    promote   a registered version, if it beats the model in service on the same split (or --force)
    loop      reviews -> new dataset version -> train -> compare -> promote
    doctor    the training environment: versions, offline set-up

Each prints its result as JSON with ``--json`` (run, promote and doctor print JSON anyway). `train train`
and `--force-promote` are the old spellings of `run` and `--force`: they work for one more release.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from datasets.yolo import DatasetError
from streetsight.commands import add_deprecated_option, add_json_option, deprecated, print_json
from streetsight.commands.datasets import parse_mapping


def _train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True, help="model name serving will use (config `model.name`)")
    p.add_argument("--version", help="version label (default: next free v<N>)")
    p.add_argument("--versions-dir", default="var/models", help="where every version is registered (default var/models)")
    p.add_argument("--promote-to", help="where the promoted model goes (default: --versions-dir)")
    p.add_argument("--model", default="yolo11n.yaml", help="Ultralytics model YAML (default yolo11n.yaml)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--project", default="var/training/runs", help="folder of training runs")
    p.add_argument("--run-name", help="run folder name (default <name>.<version>)")
    p.add_argument("--cache", default="ram", help="ram | disk | none (cache decoded images)")
    p.add_argument("--min-gain", type=float, default=0.0, help="mAP50-95 the candidate must gain to be promoted")
    p.add_argument("--fraction", type=float, default=1.0, help="use this share of the training images")


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="YOLO dataset (folder or data.yaml) with train and val (and test) splits")
    _train_options(p)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--no-promote", action="store_true", help="register the version only")
    g.add_argument("--force", action="store_true", help="promote even if not better")
    add_deprecated_option(g, "--force-promote", "--force", dest="force", flag=True)
    add_json_option(p)


def _train_kwargs(args: argparse.Namespace) -> dict:
    return dict(name=args.name, version=args.version, versions_dir=args.versions_dir, promote_to=args.promote_to,
                model_yaml=args.model, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, workers=args.workers,
                seed=args.seed, project=args.project, run_name=args.run_name, min_gain=args.min_gain,
                cache=False if args.cache == "none" else args.cache, fraction=args.fraction)


def cmd_train(args: argparse.Namespace) -> int:
    from training.run import train_and_register

    promote = "force" if args.force else ("never" if args.no_promote else "if-better")
    summary = train_and_register(args.data, promote_mode=promote, **_train_kwargs(args))
    print_json(summary)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate

    out = args.out or f"var/training/eval/{Path(str(args.model)).stem}-{args.split}"
    report = evaluate(args.model, args.data, out, split=args.split, imgsz=args.imgsz)
    if args.json:
        print_json(report)
    else:
        print(Path(out, "evaluation.md").read_text(encoding="utf-8"))
    return 0 if report else 1


def cmd_export(args: argparse.Namespace) -> int:
    from training.export import export_onnx

    onnx = export_onnx(args.weights, args.imgsz)
    print_json({"onnx": str(onnx)}) if args.json else print(onnx)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    from training.data import dataset_identity
    from training.publish import register_version

    evaluation = json.loads(Path(args.evaluation).read_text(encoding="utf-8")) if args.evaluation else None
    ds = dataset_identity(args.data)
    entry = register_version(args.onnx, name=args.name, version=args.version, versions_dir=args.versions_dir,
                             class_names=ds["classes"], imgsz=args.imgsz, dataset=ds, evaluation=evaluation,
                             conversion={"tool": "registered by `training register`", "file": str(args.onnx)})
    print_json({"directory": str(entry.directory)}) if args.json else print(entry.directory)
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from training.publish import compare_and_promote, load_version

    version = load_version(args.versions_dir, args.name, args.version)
    out = Path(args.out or f"var/training/promotions/{args.name}.{args.version}")
    record = compare_and_promote(version, args.name, args.data, args.promote_to or args.versions_dir, out,
                                 split=args.split, min_gain=args.min_gain, force=args.force)
    print_json(record)
    return 0 if record["promoted"] else 3


def cmd_loop(args: argparse.Namespace) -> int:
    from training.loop import run_loop

    kwargs = _train_kwargs(args)
    kwargs.pop("version")
    run_loop(config=args.config, base=args.base, dataset_root=args.dataset_root, promote=not args.no_promote,
             class_map={k: v for k, v in parse_mapping(args.class_map).items() if v}, types=args.types, **kwargs)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    import os

    from training.env import import_ultralytics

    ultralytics = import_ultralytics()
    import torch

    print(json.dumps({"python": sys.executable, "torch": torch.__version__, "ultralytics": ultralytics.__version__,
                      "cuda": torch.cuda.is_available(), "YOLO_CONFIG_DIR": os.environ["YOLO_CONFIG_DIR"],
                      "YOLO_OFFLINE": os.environ["YOLO_OFFLINE"], "YOLO_AUTOINSTALL": os.environ["YOLO_AUTOINSTALL"]},
                     indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streetsight train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n\n")[1:]))
    # the metavar lists the current names only: the deprecated `train` stays out of --help
    sub = p.add_subparsers(dest="command", required=True,
                           metavar="{run,evaluate,export,register,promote,loop,doctor}")

    t = sub.add_parser("run", help="train, export, evaluate, register and promote if better")
    _run_options(t)
    t.set_defaults(func=cmd_train)
    old = sub.add_parser("train")  # the old, repeating name (`streetsight train train`)
    _run_options(old)
    old.set_defaults(func=deprecated(cmd_train, "streetsight train train", "streetsight train run"))

    e = sub.add_parser("evaluate", help="mAP, per-class precision/recall and confusion matrix on a split")
    e.add_argument("model", help="model file (.onnx/.pt) or registered name")
    e.add_argument("data")
    e.add_argument("--split", default="test")
    e.add_argument("--imgsz", type=int, help="input size (registered models carry theirs)")
    e.add_argument("--out", help="report folder")
    add_json_option(e)
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("export", help=".pt -> .onnx for serving")
    x.add_argument("weights")
    x.add_argument("--imgsz", type=int, required=True)
    add_json_option(x)
    x.set_defaults(func=cmd_export)

    r = sub.add_parser("register", help="register an ONNX export as a new version")
    r.add_argument("onnx")
    r.add_argument("--data", required=True, help="the dataset it was trained on (classes, identity)")
    r.add_argument("--name", required=True)
    r.add_argument("--version")
    r.add_argument("--imgsz", type=int, required=True)
    r.add_argument("--versions-dir", default="var/models")
    r.add_argument("--evaluation", help="evaluation.json to record in the manifest")
    add_json_option(r)
    r.set_defaults(func=cmd_register)

    pr = sub.add_parser("promote", help="promote a version if it beats the model in service on the same split")
    pr.add_argument("--name", required=True)
    pr.add_argument("--version", required=True)
    pr.add_argument("--data", required=True, help="dataset whose held-out split both models are judged on")
    pr.add_argument("--split", default="test")
    pr.add_argument("--versions-dir", default="var/models")
    pr.add_argument("--promote-to")
    pr.add_argument("--min-gain", type=float, default=0.0)
    pr.add_argument("--force", action="store_true", help="promote even if not better (roll back)")
    pr.add_argument("--out")
    add_json_option(pr)
    pr.set_defaults(func=cmd_promote)

    lp = sub.add_parser("loop", help="reviews -> new dataset version -> train -> compare -> promote if better")
    lp.add_argument("--config", required=True, help="serving config (records and evidence to read)")
    lp.add_argument("--base", required=True, help="the current dataset version")
    lp.add_argument("--dataset-root", required=True, help="folder of dataset versions (v1, v2, ...)")
    lp.add_argument("--class-map", nargs="*", help="incident class -> dataset class, OLD=NEW")
    lp.add_argument("--types", nargs="*", help="only these incident types")
    lp.add_argument("--no-promote", action="store_true", help="register the candidate only (e.g. for shadow mode)")
    _train_options(lp)
    add_json_option(lp)
    lp.set_defaults(func=cmd_loop)

    d = sub.add_parser("doctor", help="show the training environment")
    add_json_option(d)
    d.set_defaults(func=cmd_doctor)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DatasetError, FileExistsError, FileNotFoundError, ValueError, LookupError) as err:
        print(f"streetsight train: {err}", file=sys.stderr)
        return 2
