"""The feedback loop: reviewers' decisions -> a new dataset version -> a training run -> an evaluation
against the model in service on the same held-out set -> promotion only if the new model is better.

    reviews   = export of confirmed (positives) and rejected (hard negatives) incidents from the records
    reviews/  split by camera (group '^(.+?)__'), so held-out cameras stay held out
    v<N+1>    = merge(previous version, reviews split)       train/val/test of each kept apart
    model     = train on v<N+1>; ONNX; registered as <name>.v<k>
    decision  = evaluate candidate and current model on v<N+1>'s test split; promote if mAP50-95 is higher

Every step writes its artefacts (dataset.json, evaluation.json/.md, comparison.json, promotions.jsonl),
so the decision can be audited later.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from datasets.manifest import read_manifest
from datasets.merge import merge_datasets
from datasets.reviews import export_reviews
from datasets.split import split_dataset
from datasets.yolo import DatasetError, load_dataset


def next_dataset_version(dataset_root: Path) -> str:
    taken = [int(m.group(1)) for p in dataset_root.glob("v*") if (m := re.fullmatch(r"v(\d+)", p.name))]
    return f"v{max(taken, default=0) + 1}"


def build_dataset_version(base: str | Path, dataset_root: str | Path, repository: Any, store: Any, *,
                          class_map: Mapping[str, str] | None = None, types: Sequence[str] | None = None,
                          ratios: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0,
                          negatives: bool = True) -> Path:
    """Export the reviews and merge them into a new version beside ``base``; returns the new folder."""
    base_ds = load_dataset(base)
    dataset_root = Path(dataset_root)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work = dataset_root / "reviews" / stamp
    export_reviews(repository, store, work / "export", names=base_ds.names, class_map=class_map, types=types,
                   negatives=negatives, name="reviews", version=stamp)
    split_dataset(work / "export", work / "split", ratios=ratios, seed=seed, group_pattern=r"^(.+?)__",
                  name="reviews", version=stamp)
    version = next_dataset_version(dataset_root)
    base_name = (read_manifest(base_ds.root) or {}).get("name") or dataset_root.name
    merge_datasets([base_ds.root, work / "split"], dataset_root / version, names=base_ds.names,
                   name=base_name, version=version)
    return dataset_root / version


def run_loop(*, config: str | Path, base: str | Path, dataset_root: str | Path, name: str,
             versions_dir: str | Path, promote_to: str | Path | None = None, class_map: Mapping[str, str] | None = None,
             types: Sequence[str] | None = None, min_gain: float = 0.0, promote: bool = True,
             **train_args: Any) -> dict[str, Any]:
    """``promote`` off: the candidate is registered only (retraining from the UI puts it in shadow mode)."""
    from training.run import stage, train_and_register

    from streetsight.commands.datasets import open_records

    stage("dataset")
    repository, store = open_records(str(config))
    try:
        new_version = build_dataset_version(base, dataset_root, repository, store, class_map=class_map, types=types)
    except DatasetError as err:
        raise DatasetError(f"no new dataset version: {err}") from None
    summary = train_and_register(new_version, name=name, versions_dir=versions_dir, promote_to=promote_to,
                                 promote_mode="if-better" if promote else "never", min_gain=min_gain, **train_args)
    summary["dataset"] = str(new_version)
    run_dir = Path(summary["run_dir"])
    run_dir = run_dir if run_dir.is_absolute() else Path(__file__).resolve().parent.parent / run_dir
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary
