"""One training run from a dataset to a registered model: train -> export ONNX -> evaluate on the
held-out split -> register as a new version -> (optionally) promote it if it beats the model in service.
"""
from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

from training.data import dataset_identity, portable
from training.evaluate import evaluate
from training.export import export_onnx
from training.fit import train
from training.publish import compare_and_promote, register_version


def stage(name: str) -> None:
    """One line per step on stderr, beside the per-epoch lines: what a job runner shows as the run's stage."""
    print(f"[train] stage: {name}", file=sys.stderr, flush=True)


def held_out_split(data: str | Path) -> str:
    from datasets.yolo import load_dataset

    return "test" if "test" in load_dataset(data).splits else "val"


def train_and_register(data: str | Path, *, name: str, versions_dir: str | Path = "var/models",
                       promote_to: str | Path | None = None, promote_mode: str = "if-better", version: str | None = None,
                       model_yaml: str = "yolo11n.yaml", epochs: int = 30, imgsz: int = 320, batch: int = 16,
                       workers: int = 2, project: str | Path = "var/training/runs", run_name: str | None = None,
                       seed: int = 0, min_gain: float = 0.0, **overrides: Any) -> dict[str, Any]:
    """``promote_mode``: "if-better" (compare with the model in service), "never", or "force"."""
    import torch
    import ultralytics

    from training.publish import next_version

    versions_dir = Path(versions_dir)
    version = version or next_version(versions_dir, name)
    run_name = run_name or f"{name}.{version}"
    stage("train")
    result = train(data, model_yaml=model_yaml, epochs=epochs, imgsz=imgsz, batch=batch, workers=workers,
                   project=project, run_name=run_name, seed=seed, **overrides)
    stage("export")
    onnx = export_onnx(result.best, imgsz)
    split = held_out_split(data)
    stage("evaluate")
    evaluation = evaluate(onnx, data, result.run_dir / f"eval-{split}", split=split, imgsz=imgsz)
    import onnx as onnx_lib

    opset = max((o.version for o in onnx_lib.load(str(onnx), load_external_data=False).opset_import
                 if o.domain in ("", "ai.onnx")), default=None)
    stage("register")
    entry = register_version(
        onnx, name=name, version=version, versions_dir=versions_dir, class_names=result.class_names, imgsz=imgsz,
        dataset=dataset_identity(data),
        training={"model_yaml": model_yaml, "epochs": epochs, "imgsz": imgsz, "batch": batch, "seed": seed,
                  "run_dir": portable(result.run_dir), "train_s": result.train_s, "device": "cpu",
                  "machine": platform.machine(), "args": {k: str(v) for k, v in result.args.items()}},
        evaluation=evaluation,
        conversion={"tool": f"ultralytics {ultralytics.__version__} export format=onnx simplify=False nms=False",
                    "torch": torch.__version__, "opset": opset, "weights": portable(result.best)})
    summary: dict[str, Any] = {"name": name, "version": version, "registered": str(entry.directory),
                               "run_dir": portable(result.run_dir), "train_s": result.train_s,
                               "evaluation": {"split": split, **evaluation["metrics"],
                                              "report": str(result.run_dir / f"eval-{split}" / "evaluation.md")},
                               "per_class": evaluation["per_class"]}
    if promote_mode != "never":
        decision = compare_and_promote(entry, name, data, promote_to or versions_dir,
                                       result.run_dir / "promotion", split=split, min_gain=min_gain,
                                       force=promote_mode == "force", candidate_eval=evaluation)
        summary["promotion"] = {k: decision[k] for k in ("promoted", "reason", "candidate_metrics", "current_metrics")}
        summary["promotion"]["promoted_to"] = decision.get("promoted_to")
    (result.run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary
