"""The training venv (torch + ultralytics) as the benchmark uses it: found or bootstrapped, run offline.

Serving never imports torch or ultralytics: the benchmark runs them as subprocesses of the training
venv's Python. Ultralytics is kept offline: ``YOLO_OFFLINE=1``, no settings sync, no auto-install, and a
DejaVu font placed where it would otherwise download ``Arial.ttf``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from models.decoders.yolo import yolo_manifest_fields
from models.registry import find_model, register_model

ROOT = Path(__file__).resolve().parents[2]
TRAIN_VENV = Path(os.environ.get("STREETSIGHT_TRAIN_VENV", ROOT / ".venv-train"))
FONT_CANDIDATES = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),)


class BaselineUnavailable(RuntimeError):
    """The training venv cannot be had (and so neither the Ultralytics baseline)."""


def train_python(bootstrap: bool = True) -> Path:
    """The training venv's Python, after `ensure_train_venv` (bin/_bootstrap.sh) when it lacks ultralytics."""
    python = TRAIN_VENV / "bin" / "python"
    if _imports_ultralytics(python):
        return python
    if not bootstrap:
        raise BaselineUnavailable(f"{TRAIN_VENV} has no ultralytics (run: source bin/_bootstrap.sh; ensure_train_venv)")
    print(f"streetsight bench: building the training venv {TRAIN_VENV} (torch, ultralytics) ...", file=sys.stderr)
    done = subprocess.run(["bash", "-c", f'source "{ROOT}/bin/_bootstrap.sh" && ensure_train_venv'],
                          env={**os.environ, "STREETSIGHT_TRAIN_VENV": str(TRAIN_VENV)})
    if done.returncode != 0 or not _imports_ultralytics(python):
        raise BaselineUnavailable(f"could not build the training venv {TRAIN_VENV} (exit {done.returncode})")
    return python


def _imports_ultralytics(python: Path) -> bool:
    if not python.exists():
        return False
    return subprocess.run([str(python), "-c", "import ultralytics"], capture_output=True,
                          env=offline_env(Path(os.environ.get("TMPDIR", "/tmp")) / "streetsight-yolo")).returncode == 0


def offline_env(config_dir: Path) -> dict[str, str]:
    """Environment for an offline Ultralytics with its settings and font under ``config_dir``."""
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    font = font_dir / "Arial.ttf"
    if not font.exists():
        source = next((f for f in FONT_CANDIDATES if f.exists()), None)
        if source is not None:  # without it Ultralytics only fails when it draws, which the bench never does
            shutil.copyfile(source, font)
    settings = font_dir / "settings.json"
    if not settings.exists():
        settings.write_text(json.dumps({"sync": False}))
    return {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "YOLO_CONFIG_DIR": str(config_dir),
            "YOLO_VERBOSE": "false"}


_EXPORT = r"""
import json, sys
from ultralytics import YOLO, settings
settings.update({"sync": False})
model = YOLO(sys.argv[1])
path = model.export(format="onnx", imgsz=int(sys.argv[2]), dynamic=True, simplify=False, opset=17)
print("EXPORTED " + json.dumps({"path": str(path), "names": [model.names[i] for i in sorted(model.names)]}))
"""


def bench_model(registry_dir: Path, imgsz: int, yaml: str = "yolo11n.yaml") -> str:
    """Register (once) a YOLO ONNX exported from ``yaml`` with random weights; returns its registry name.

    Random weights cost what trained ones cost: the graph is the same. Dynamic batch and size, so one
    file serves both our batches and Ultralytics' predictor.
    """
    name = f"{Path(yaml).stem}-bench-{imgsz}"
    os.environ["STREETSIGHT_MODEL_DIRS"] = os.pathsep.join(
        p for p in (str(registry_dir), os.environ.get("STREETSIGHT_MODEL_DIRS", "")) if p)
    try:
        find_model(name)
        return name
    except LookupError:
        pass
    work = registry_dir.parent / "export"
    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(train_python()), "-c", _EXPORT, yaml, str(imgsz)], cwd=work, capture_output=True,
                          text=True, env=offline_env(registry_dir.parent / "ultralytics"))
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("EXPORTED ")), None)
    if done.returncode != 0 or line is None:
        raise BaselineUnavailable(f"ONNX export of {yaml} failed: {done.stderr.strip()[-2000:]}")
    info = json.loads(line.removeprefix("EXPORTED "))
    fields = yolo_manifest_fields(name, "random-init", info["names"], imgsz, license_model="AGPL-3.0",
                                  source={"exported_from": yaml, "weights": "random initialisation (benchmark)"})
    fields["input"]["dynamic_batch"] = True
    register_model(Path(work) / info["path"], fields, registry_dir, overwrite=True)
    return name
