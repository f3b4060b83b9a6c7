"""Evaluate a model (ONNX or .pt, or a registered name) on a held-out split with Ultralytics' validator:
mAP50, mAP50-95, precision and recall overall and per class, the confusion matrix, and the plots
(confusion matrices, PR/F1/P/R curves, predictions on validation batches). Writes ``evaluation.json`` and
``evaluation.md`` to ``out_dir``.

Two models compared on the same dataset split with the same settings give comparable figures: that is
how a candidate is judged against the model in service (training/publish.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.data import dataset_identity, resolved_data_yaml
from training.env import import_ultralytics


def resolve_model(model: str | Path) -> tuple[Path, int | None, dict[str, Any]]:
    """A path, or the name of a registered model -> (file, input size or None, identity)."""
    path = Path(model)
    if path.suffix in (".onnx", ".pt") and path.is_file():
        return path, None, {"file": str(path.resolve())}
    from models.registry import find_model, verify_checksum

    entry = find_model(str(model))
    verify_checksum(entry)
    if entry.manifest.decoder != "yolo":
        raise ValueError(f"model {entry.name!r} has decoder {entry.manifest.decoder!r}: only Ultralytics YOLO "
                         "exports can be evaluated here")
    return entry.model_path, entry.manifest.input.width, {
        "name": entry.name, "version": entry.manifest.version, "sha256": entry.manifest.sha256,
        "file": str(entry.model_path)}


def evaluate(model: str | Path, data: str | Path, out_dir: str | Path, *, split: str = "test",
             imgsz: int | None = None, conf: float = 0.001, iou: float = 0.7, cm_conf: float = 0.25) -> dict[str, Any]:
    """mAP and per-class figures at ``conf`` (0.001: the whole precision-recall curve, as Ultralytics and
    COCO measure), the confusion matrix at ``cm_conf`` (what a deployment with that threshold would see)."""
    out_dir = Path(out_dir).resolve()
    path, registered_size, identity = resolve_model(model)
    imgsz = imgsz or registered_size
    if imgsz is None:
        raise ValueError("imgsz: give the model's input size (registered models carry it in their manifest)")
    data_yaml, names = resolved_data_yaml(data, out_dir / ".data")
    import yaml

    if split not in yaml.safe_load(data_yaml.read_text(encoding="utf-8")):
        raise ValueError(f"{data}: the dataset has no '{split}' split")
    import_ultralytics(out_dir)
    from ultralytics import YOLO

    yolo = YOLO(str(path), task="detect")
    model_names = list(yolo.names.values()) if isinstance(yolo.names, dict) else list(yolo.names)
    if model_names != names:
        raise ValueError(f"model classes {model_names} differ from the dataset's {names}: figures would be meaningless")
    common = dict(data=str(data_yaml), split=split, imgsz=imgsz, batch=1 if path.suffix == ".onnx" else 8, iou=iou,
                  device="cpu", exist_ok=True, plots=True, workers=0)
    metrics = yolo.val(conf=conf, project=str(out_dir.parent), name=out_dir.name, verbose=True, **common)
    at_threshold = yolo.val(conf=cm_conf, project=str(out_dir), name=f"at-conf-{cm_conf}", verbose=False, **common)
    report = build_report(metrics, names)
    report["confusion_matrix"] = confusion(at_threshold, names) | {"conf": cm_conf,
                                                                   "plots_dir": str(Path(at_threshold.save_dir))}
    report.update({"model": identity, "dataset": dataset_identity(data), "split": split, "imgsz": imgsz,
                   "conf": conf, "iou": iou, "plots_dir": str(Path(metrics.save_dir))})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "evaluation.md").write_text(format_report(report), encoding="utf-8")
    return report


def build_report(metrics: Any, names: list[str]) -> dict[str, Any]:
    box = metrics.box
    per_class: dict[str, dict[str, Any]] = {}
    counts = getattr(metrics, "nt_per_class", None)
    index = {int(c): i for i, c in enumerate(box.ap_class_index)}
    for cid, name in enumerate(names):
        instances = int(counts[cid]) if counts is not None and cid < len(counts) else None
        if cid in index:
            i = index[cid]
            per_class[name] = {"instances": instances, "precision": round(float(box.p[i]), 4),
                               "recall": round(float(box.r[i]), 4), "map50": round(float(box.ap50[i]), 4),
                               "map50_95": round(float(box.ap[i]), 4)}
        else:
            per_class[name] = {"instances": instances, "precision": None, "recall": None, "map50": None, "map50_95": None}
    return {
        "metrics": {"map50": round(float(box.map50), 4), "map50_95": round(float(box.map), 4),
                    "precision": round(float(box.mp), 4), "recall": round(float(box.mr), 4)},
        "per_class": per_class,
        "confusion_matrix": confusion(metrics, names),
        "speed_ms": {k: round(float(v), 2) for k, v in (getattr(metrics, "speed", {}) or {}).items()},
    }


def confusion(metrics: Any, names: list[str]) -> dict[str, Any]:
    # rows: predicted class (last row: background = a miss), columns: true class (last column: a false alarm)
    return {"labels": [*names, "background"], "matrix": metrics.confusion_matrix.matrix.astype(int).tolist(),
            "layout": "rows = predicted, columns = true (Ultralytics)"}


def format_report(report: dict[str, Any]) -> str:
    m = report["metrics"]
    lines = [f"# Evaluation: {report['model'].get('name') or report['model'].get('file')}", "",
             f"Dataset {report['dataset'].get('name')} version {report['dataset'].get('version')} "
             f"(content {str(report['dataset'].get('content_sha256'))[:12]}), split `{report['split']}`, "
             f"imgsz {report['imgsz']}", "",
             f"**mAP50 {m['map50']:.3f} · mAP50-95 {m['map50_95']:.3f} · precision {m['precision']:.3f} · "
             f"recall {m['recall']:.3f}**", "",
             "| class | instances | precision | recall | mAP50 | mAP50-95 |", "|---|---:|---:|---:|---:|---:|"]
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    for name, c in report["per_class"].items():
        lines.append(f"| {name} | {c['instances'] if c['instances'] is not None else '–'} | {fmt(c['precision'])} | "
                     f"{fmt(c['recall'])} | {fmt(c['map50'])} | {fmt(c['map50_95'])} |")
    cm = report["confusion_matrix"]
    lines += ["", f"Confusion matrix at confidence {cm.get('conf', report['conf'])} (rows predicted, columns true; "
              "background row: missed objects, background column: false alarms):", "",
              "| pred \\ true | " + " | ".join(cm["labels"]) + " |", "|---" * (len(cm["labels"]) + 1) + "|"]
    for label, row in zip(cm["labels"], cm["matrix"]):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", f"Plots: {report['plots_dir']}", ""]
    return "\n".join(lines)
