"""Find registered models: `<dir>/<name>/manifest.json` plus the model file it names.

Search order: the directories in env STREETSIGHT_MODEL_DIRS (os.pathsep-separated), then the
built-in `models/registry/`. The first directory holding a name wins, so a trained model registered
elsewhere can stand in for a built-in one of the same name.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from common.hashing import sha256_file
from models.manifest import MANIFEST_FILE, ManifestError, ModelManifest, dump_manifest, load_manifest_file, parse_manifest

BUILTIN_DIR = Path(__file__).resolve().parent / "registry"
ENV_DIRS = "STREETSIGHT_MODEL_DIRS"


class ModelNotFound(LookupError):
    pass


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    manifest: ModelManifest
    directory: Path

    @property
    def model_path(self) -> Path:
        return self.directory / self.manifest.file


def search_dirs() -> list[Path]:
    extra = [Path(p).expanduser() for p in os.environ.get(ENV_DIRS, "").split(os.pathsep) if p.strip()]
    return [*extra, BUILTIN_DIR]


def list_models() -> list[str]:
    """Names of all registered models (each directory with a manifest.json), sorted."""
    names: set[str] = set()
    for d in search_dirs():
        if d.is_dir():
            names.update(p.parent.name for p in d.glob(f"*/{MANIFEST_FILE}"))
    return sorted(names)


def find_model(name: str) -> RegisteredModel:
    for d in search_dirs():
        manifest_path = d / name / MANIFEST_FILE
        if manifest_path.is_file():
            manifest = load_manifest_file(manifest_path)
            if manifest.name != name:
                raise ManifestError(f"{manifest_path}: field 'name' is {manifest.name!r}, but the directory is {name!r}")
            entry = RegisteredModel(name, manifest, manifest_path.parent)
            if not entry.model_path.is_file():
                raise ManifestError(f"{manifest_path}: field 'file': {entry.model_path} does not exist")
            return entry
    where = ", ".join(str(d) for d in search_dirs())
    raise ModelNotFound(f"model {name!r} is not registered (searched {where}; known: {list_models()})")


def load_manifest(name: str) -> ModelManifest:
    return find_model(name).manifest


def verify_checksum(entry: RegisteredModel) -> None:
    actual = sha256_file(entry.model_path).sha256
    if actual != entry.manifest.sha256:
        raise ManifestError(
            f"{entry.model_path}: sha256 {actual} does not match field 'sha256' {entry.manifest.sha256} "
            "(a Git LFS pointer, a partial copy, or a file changed without re-registering?)")


def register_model(onnx_path: str | Path, manifest_fields: Mapping[str, Any], dest_dir: str | Path,
                   *, overwrite: bool = False) -> RegisteredModel:
    """Copy an ONNX file into `dest_dir/<name>/model.onnx` and write its manifest (sha256 filled in).

    `manifest_fields` are the ModelManifest fields except `sha256` and `file`. Validation happens
    before anything is written.
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FileNotFoundError(onnx_path)
    fields = {k: v for k, v in dict(manifest_fields).items() if k not in ("sha256", "file")}
    manifest = parse_manifest({**fields, "file": "model.onnx", "sha256": sha256_file(onnx_path).sha256},
                              f"manifest for {onnx_path}")
    target = Path(dest_dir) / manifest.name
    if (target / MANIFEST_FILE).exists() and not overwrite:
        raise FileExistsError(f"{target} already holds a registered model (pass overwrite=True)")
    target.mkdir(parents=True, exist_ok=True)
    # write to temporary names first so a reader never sees a model without its manifest or vice versa
    tmp_model = target / ".model.onnx.tmp"
    shutil.copyfile(onnx_path, tmp_model)
    with tempfile.NamedTemporaryFile("w", dir=target, delete=False, suffix=".tmp", encoding="utf-8") as f:
        f.write(dump_manifest(manifest))
    os.chmod(f.name, 0o644)  # NamedTemporaryFile creates 0600; a manifest is as readable as its model
    os.replace(tmp_model, target / manifest.file)
    os.replace(f.name, target / MANIFEST_FILE)
    return RegisteredModel(manifest.name, manifest, target)
