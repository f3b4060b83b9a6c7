"""Make Ultralytics work with no network: call :func:`setup_offline` before the first ultralytics import.

What Ultralytics would otherwise try to fetch or send, and what stops it:
- an internet probe at import (``YOLO_OFFLINE=1``),
- ``Arial.ttf`` (and ``Arial.Unicode.ttf`` for non-Latin class names) on every dataset check: a TTF from
  Debian's fonts-dejavu-core is copied to ``$YOLO_CONFIG_DIR/Ultralytics/`` under those names,
- pip installs of missing requirements (``YOLO_AUTOINSTALL=false``),
- analytics and crash reports (settings ``sync=False``) and logger integrations (off in the settings),
- weights for the AMP check (training passes ``amp=False``).
DejaVu has no CJK glyphs: Chinese class names draw as boxes in the plots (the figures are unaffected).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = REPO / "var" / "ultralytics"
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),  # Debian fonts-dejavu-core
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
INTEGRATIONS_OFF = {"sync": False, "clearml": False, "comet": False, "dvc": False, "mlflow": False,
                    "raytune": False, "tensorboard": False, "wandb": False, "vscode_msg": False}


class TrainingSetupError(RuntimeError):
    pass


def find_font() -> Path:
    env = os.environ.get("STREETSIGHT_TRAIN_FONT")
    for p in ([Path(env)] if env else []) + list(FONT_CANDIDATES):
        if p.is_file():
            return p
    raise TrainingSetupError("no TrueType font found for Ultralytics' plots: install Debian's fonts-dejavu-core "
                             "(apt-get install fonts-dejavu-core) or set STREETSIGHT_TRAIN_FONT to a .ttf file")


def setup_offline(config_dir: str | Path | None = None) -> Path:
    """Set the environment and place the fonts; returns Ultralytics' settings folder. Idempotent."""
    base = Path(config_dir or os.environ.get("YOLO_CONFIG_DIR") or DEFAULT_CONFIG_DIR).resolve()
    os.environ["YOLO_CONFIG_DIR"] = str(base)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    settings_dir = base / "Ultralytics"
    settings_dir.mkdir(parents=True, exist_ok=True)
    font = find_font()
    for name in FONT_NAMES:
        target = settings_dir / name
        if not target.is_file():
            shutil.copyfile(font, target)
    return settings_dir


def configure_settings(runs_dir: Path, datasets_dir: Path) -> None:
    """After ultralytics is imported: analytics off, integrations off, folders ours."""
    from ultralytics.utils import SETTINGS

    SETTINGS.update({**INTEGRATIONS_OFF, "runs_dir": str(runs_dir), "datasets_dir": str(datasets_dir),
                     "weights_dir": str(runs_dir / "weights")})


def import_ultralytics(runs_dir: Path | None = None):
    """Set up offline mode, import ultralytics, configure its settings; returns the module."""
    setup_offline()
    import ultralytics

    configure_settings(Path(runs_dir or REPO / "var" / "training"), REPO / "var" / "datasets")
    return ultralytics
