"""`streetsight train ...`: training runs in its own virtual environment, where torch and Ultralytics
(AGPL-3.0) live; the serving install never imports them. This command finds that environment's Python and
hands every argument to ``python -m training`` there (``streetsight train --help`` lists the steps).

Which Python: ``$STREETSIGHT_TRAIN_PYTHON``; else ``<repo>/.venv-train/bin/python`` (made by
``bin/streetsight train``, which builds it on first use); else this Python if it has torch and ultralytics installed.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ENV_PYTHON = "STREETSIGHT_TRAIN_PYTHON"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO / ".venv-train"

INSTALL_HINT = f"""streetsight train: no training environment found.
Training needs torch and ultralytics (the `train` extra), kept out of the serving install.
`bin/streetsight train ...` builds it on first use, as does `bash -c 'source bin/_bootstrap.sh && ensure_train_venv'`
(the CPU build of torch without a GPU, 2.2 GB; the CUDA build with one: docs/training-environment.md); or by
hand on a machine with a GPU:
  python3 -m venv {DEFAULT_VENV}
  {DEFAULT_VENV}/bin/pip install torch==2.14.1 torchvision==0.29.1    # x86_64; aarch64: torch==2.9.1 torchvision==0.24.1
  {DEFAULT_VENV}/bin/pip install -e '{REPO}[train]'
  apt-get install fonts-dejavu-core                                     # the font Ultralytics' plots use, offline
or point {ENV_PYTHON} at a Python that has them."""


def find_train_python() -> Path | None:
    env = os.environ.get(ENV_PYTHON)
    if env:
        return Path(env) if Path(env).is_file() else None
    candidate = DEFAULT_VENV / "bin" / "python"
    if candidate.is_file():
        return candidate
    if importlib.util.find_spec("torch") and importlib.util.find_spec("ultralytics"):
        return Path(sys.executable)
    return None


def run(args: argparse.Namespace) -> int:
    python = find_train_python()
    if python is None:
        where = f" ({ENV_PYTHON}={os.environ[ENV_PYTHON]} does not exist)" if os.environ.get(ENV_PYTHON) else ""
        print(INSTALL_HINT + where, file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return subprocess.call([str(python), "-m", "training", *args.train_args], env=env)


def register(subparsers: argparse._SubParsersAction) -> None:
    # prefix_chars that never occur: every argument, --help included, goes to the training CLI unparsed
    p = subparsers.add_parser("train", help="train, evaluate, register and promote detectors (training venv)",
                              add_help=False, prefix_chars="\0")
    p.add_argument("train_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=run)
