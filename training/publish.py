"""Register trained models, keep every version, and promote a version only when it beats the one in service.

Layout (a models folder that serving searches through ``STREETSIGHT_MODEL_DIRS``, or the built-in
``models/registry``)::

    <versions_dir>/<name>.v1/ manifest.json + model.onnx     every registered version, kept
    <versions_dir>/<name>.v2/ ...
    <promote_to>/<name>/      manifest.json + model.onnx     what `model: {name: <name>}` resolves to
    <promote_to>/promotions.jsonl                            every decision, promoted or not, with figures

Promotion compares the candidate and the current model on the same split of the same dataset (the new
dataset version's held-out test split) and promotes when the candidate's mAP50-95 is higher by more than
``min_gain``. No current model: the candidate is promoted. A current model with other classes or another
decoder cannot be compared: nothing is promoted unless forced. Roll back by promoting an older version
with ``force``.
"""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

from models.decoders.yolo import yolo_manifest_fields
from models.manifest import ManifestError, load_manifest_file
from models.registry import ENV_DIRS, ModelNotFound, RegisteredModel, find_model, register_model

PROMOTIONS_LOG = "promotions.jsonl"
LICENSE_NOTES = ("trained from scratch from an Ultralytics model YAML (no pretrained weights) by StreetSight's "
                 "training/; Ultralytics is AGPL-3.0, and so are models trained with it unless an Ultralytics "
                 "Enterprise licence says otherwise")


def version_dir_name(name: str, version: str) -> str:
    return f"{name}.{version}"


def next_version(versions_dir: Path, name: str) -> str:
    pattern = re.compile(rf"^{re.escape(name)}\.v(\d+)$")
    taken = [int(m.group(1)) for p in Path(versions_dir).glob(f"{name}.v*") if (m := pattern.match(p.name))]
    return f"v{max(taken, default=0) + 1}"


def register_version(onnx: str | Path, *, name: str, version: str | None, versions_dir: str | Path,
                     class_names: list[str], imgsz: int, dataset: Mapping[str, Any],
                     training: Mapping[str, Any] | None = None, evaluation: Mapping[str, Any] | None = None,
                     conversion: Mapping[str, Any] | None = None) -> RegisteredModel:
    """Register ``onnx`` as ``<name>.<version>`` (a version is never overwritten)."""
    versions_dir = Path(versions_dir)
    version = version or next_version(versions_dir, name)
    fields = yolo_manifest_fields(
        version_dir_name(name, version), version, class_names, imgsz,
        source={"kind": "trained", "model_name": name, "dataset": dict(dataset), "training": dict(training or {}),
                "evaluation": _evaluation_summary(evaluation)},
        conversion=dict(conversion or {}))
    fields["license"] = {"model": "AGPL-3.0", "upstream": "https://github.com/ultralytics/ultralytics (AGPL-3.0)",
                         "notes": LICENSE_NOTES}
    return register_model(onnx, fields, versions_dir)


def _evaluation_summary(evaluation: Mapping[str, Any] | None) -> dict[str, Any]:
    if not evaluation:
        return {}
    return {"split": evaluation.get("split"), "dataset_content_sha256": evaluation.get("dataset", {}).get("content_sha256"),
            "metrics": evaluation.get("metrics"), "per_class": evaluation.get("per_class")}


@contextmanager
def searching(*dirs: Path) -> Iterator[None]:
    """Make the registry also search ``dirs`` (first) for the duration."""
    old = os.environ.get(ENV_DIRS)
    os.environ[ENV_DIRS] = os.pathsep.join([*(str(Path(d).resolve()) for d in dirs), *([old] if old else [])])
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_DIRS, None)
        else:
            os.environ[ENV_DIRS] = old


def current_model(name: str, promote_to: Path) -> RegisteredModel | None:
    with searching(promote_to):
        try:
            return find_model(name)
        except ModelNotFound:
            return None


def decide(candidate: Mapping[str, Any], current: Mapping[str, Any] | None, metric: str = "map50_95",
           min_gain: float = 0.0) -> tuple[bool, str]:
    """(promote?, why) from two evaluation reports of the same split."""
    if current is None:
        return True, "no model in service under this name"
    if candidate.get("dataset", {}).get("content_sha256") != current.get("dataset", {}).get("content_sha256") \
            or candidate.get("split") != current.get("split"):
        return False, "the two evaluations are not on the same dataset split: not comparable"
    a, b = float(candidate["metrics"][metric]), float(current["metrics"][metric])
    if a > b + min_gain:
        return True, f"{metric} {a:.4f} > {b:.4f} + {min_gain}"
    return False, f"{metric} {a:.4f} is not better than {b:.4f} + {min_gain}"


def promote(version: RegisteredModel, name: str, promote_to: str | Path) -> RegisteredModel:
    """Copy ``version`` to ``<promote_to>/<name>``, replacing what was there."""
    m = version.manifest
    fields = m.model_dump(mode="json", exclude={"sha256", "file"})
    fields["name"] = name
    fields["source"] = {**fields.get("source", {}), "promoted_from": version.name,
                        "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return register_model(version.model_path, fields, promote_to, overwrite=True)


def log_decision(promote_to: str | Path, record: Mapping[str, Any]) -> None:
    path = Path(promote_to) / PROMOTIONS_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), **record},
                           ensure_ascii=False) + "\n")


def compare_and_promote(candidate: RegisteredModel, name: str, data: str | Path, promote_to: str | Path,
                        out_dir: str | Path, *, split: str = "test", min_gain: float = 0.0,
                        force: bool = False, candidate_eval: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate the candidate (unless ``candidate_eval`` is its report on this split already) and the model
    in service on the same split; promote the candidate if it is better."""
    from training.evaluate import evaluate

    promote_to, out_dir = Path(promote_to), Path(out_dir)
    if candidate_eval is not None and candidate_eval.get("split") == split:
        cand_eval = dict(candidate_eval)
    else:
        cand_eval = evaluate(candidate.model_path, data, out_dir / "candidate", split=split,
                             imgsz=candidate.manifest.input.width)
    cand_eval["model"] = {"name": candidate.name, "version": candidate.manifest.version,
                          "sha256": candidate.manifest.sha256}
    current = current_model(name, promote_to)
    cur_eval = None
    comparable = True
    if current is not None:
        if current.manifest.decoder != "yolo" or list(current.manifest.class_names) != list(candidate.manifest.class_names):
            comparable = False
        else:
            cur_eval = evaluate(current.model_path, data, out_dir / "current", split=split,
                                imgsz=current.manifest.input.width)
            cur_eval["model"] = {"name": current.name, "version": current.manifest.version,
                                 "sha256": current.manifest.sha256, "directory": str(current.directory)}
    if comparable:
        better, reason = decide(cand_eval, cur_eval, min_gain=min_gain)
    else:
        better, reason = False, (f"the model in service ({current.directory}) has other classes or another decoder: "
                                 "not comparable")
    promoted = better or force
    if force and not better:
        reason += " (promoted anyway: forced)"
    record = {"name": name, "candidate": cand_eval["model"], "current": cur_eval["model"] if cur_eval else
              ({"directory": str(current.directory), "version": current.manifest.version} if current else None),
              "split": split, "dataset": cand_eval["dataset"], "candidate_metrics": cand_eval["metrics"],
              "current_metrics": cur_eval["metrics"] if cur_eval else None, "promoted": promoted, "reason": reason}
    if promoted:
        entry = promote(candidate, name, promote_to)
        record["promoted_to"] = str(entry.directory)
    log_decision(promote_to, record)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return record


def load_version(versions_dir: str | Path, name: str, version: str) -> RegisteredModel:
    directory = Path(versions_dir) / version_dir_name(name, version)
    try:
        manifest = load_manifest_file(directory / "manifest.json")
    except ManifestError as err:
        raise ModelNotFound(f"no version {version!r} of {name!r} in {versions_dir}: {err}") from None
    return RegisteredModel(manifest.name, manifest, directory)
