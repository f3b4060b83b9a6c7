"""Train a detector with Ultralytics from a model YAML (no pretrained weights exist here).

One line per epoch goes to stderr and to ``progress.jsonl`` in the run folder, beside Ultralytics' own
progress bars and plots (results.png, labels.jpg, train_batch*.jpg, confusion matrices, PR curves).
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data import resolved_data_yaml
from training.env import import_ultralytics


@dataclass
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    data_yaml: Path
    class_names: list[str]
    imgsz: int
    epochs: int
    train_s: float
    args: dict[str, Any]


def _progress_callback(t0: float):
    seen: set[int] = set()

    def on_fit_epoch_end(trainer) -> None:
        if trainer.epoch in seen:
            return
        seen.add(trainer.epoch)
        final = trainer.epoch >= trainer.epochs  # Ultralytics' closing validation of best.pt
        m = trainer.metrics or {}
        losses = trainer.label_loss_items(trainer.tloss, prefix="train") if trainer.tloss is not None and not final else {}
        row = {"epoch": "best" if final else trainer.epoch + 1, "epochs": trainer.epochs,
               "train_loss": {k.split("/")[-1]: round(float(v), 4) for k, v in losses.items()},
               "precision": m.get("metrics/precision(B)"), "recall": m.get("metrics/recall(B)"),
               "map50": m.get("metrics/mAP50(B)"), "map50_95": m.get("metrics/mAP50-95(B)"),
               "elapsed_s": round(time.perf_counter() - t0, 1)}
        with open(Path(trainer.save_dir) / "progress.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        head = "best.pt on val" if final else f"epoch {row['epoch']}/{row['epochs']}"
        loss_text = " ".join(f"{k} {v:.3f}" for k, v in row["train_loss"].items())
        print(f"[train] {head}  {loss_text}  P {fmt(row['precision'])} R {fmt(row['recall'])} "
              f"mAP50 {fmt(row['map50'])} mAP50-95 {fmt(row['map50_95'])}  ({row['elapsed_s']:.0f} s)",
              file=sys.stderr, flush=True)
    return on_fit_epoch_end


def train(data: str | Path, *, model_yaml: str = "yolo11n.yaml", epochs: int = 30, imgsz: int = 320,
          batch: int = 16, workers: int = 2, project: str | Path = "var/training/runs", run_name: str = "run",
          seed: int = 0, patience: int = 50, cache: str | bool = "ram", device: str = "cpu",
          **overrides: Any) -> TrainResult:
    """Train from scratch; returns where the weights and plots are."""
    project = Path(project).resolve()
    run_dir = project / run_name
    if run_dir.exists():
        raise FileExistsError(f"{run_dir} exists: pick another run name (runs are never overwritten)")
    data_yaml, names = resolved_data_yaml(data, project / ".data" / run_name)
    import_ultralytics(project)
    from ultralytics import YOLO

    model = YOLO(model_yaml, task="detect")
    t0 = time.perf_counter()
    model.add_callback("on_fit_epoch_end", _progress_callback(t0))
    args = dict(data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, workers=workers, device=device,
                project=str(project), name=run_name, exist_ok=False, seed=seed, deterministic=True,
                pretrained=False, amp=False, plots=True, patience=patience, cache=cache,
                close_mosaic=max(0, min(10, epochs // 4)), verbose=True)
    args.update(overrides)
    model.train(**args)
    save_dir = Path(model.trainer.save_dir)
    weights = save_dir / "weights"
    return TrainResult(save_dir, weights / "best.pt", weights / "last.pt", data_yaml, names, imgsz, epochs,
                       round(time.perf_counter() - t0, 1), {k: v for k, v in args.items() if k != "data"})
