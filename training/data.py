"""The dataset as Ultralytics should see it: an absolute-path copy of data.yaml, and its identity."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from datasets.manifest import content_hash, read_manifest
from datasets.validate import validate_dataset
from datasets.yolo import DatasetError, load_dataset


def resolved_data_yaml(data: str | Path, out_dir: Path, validate: bool = True) -> tuple[Path, list[str]]:
    """Validate the dataset and write ``out_dir/data.yaml`` with absolute folders (Ultralytics resolves a
    relative ``path`` against its own datasets folder). Returns the file and the class names."""
    ds = load_dataset(data)
    if validate:
        report = validate_dataset(ds.yaml_path, check_pixels=False, require_splits=True)
        if not report.ok:
            shown = "\n  ".join(report.errors[:10])
            more = f"\n  ... and {len(report.errors) - 10} more" if len(report.errors) > 10 else ""
            raise DatasetError(f"{ds.yaml_path}: the dataset has {len(report.errors)} error(s):\n  {shown}{more}")
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved: dict[str, Any] = {"path": str(ds.root)}
    for split, folder in ds.splits.items():
        resolved[split] = str(folder)
    resolved["names"] = {i: n for i, n in enumerate(ds.names)}
    out = out_dir / "data.yaml"
    out.write_text(yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out, ds.names


def portable(path: str | Path) -> str:
    """``path`` relative to the repository when it lies inside it (manifests are committed), else absolute."""
    path = Path(path).resolve()
    repo = Path(__file__).resolve().parent.parent
    return path.relative_to(repo).as_posix() if path.is_relative_to(repo) else str(path)


def dataset_identity(data: str | Path) -> dict[str, Any]:
    """What a model manifest records about the data it learned from."""
    ds = load_dataset(data)
    m = read_manifest(ds.root) or {}
    return {"path": portable(ds.root), "name": m.get("name"), "version": m.get("version"),
            "content_sha256": m.get("content_sha256") or content_hash(ds.root), "classes": ds.names}
