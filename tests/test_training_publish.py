"""Promotion rules and version numbering (no torch needed: these run in the serving install)."""
from __future__ import annotations

from pathlib import Path

from training.publish import decide, next_version


def report(map50_95: float, sha: str = "abc", split: str = "test") -> dict:
    return {"split": split, "dataset": {"content_sha256": sha}, "metrics": {"map50_95": map50_95, "map50": 0.0}}


def test_promote_only_when_better_on_the_same_split() -> None:
    assert decide(report(0.30), None) == (True, "no model in service under this name")
    assert decide(report(0.31), report(0.30))[0] is True
    assert decide(report(0.30), report(0.30)) == (False, "map50_95 0.3000 is not better than 0.3000 + 0.0")
    assert decide(report(0.29), report(0.30))[0] is False
    assert decide(report(0.31), report(0.30), min_gain=0.02)[0] is False
    assert decide(report(0.50), report(0.30, sha="other")) == (
        False, "the two evaluations are not on the same dataset split: not comparable")
    assert decide(report(0.50, split="val"), report(0.30))[0] is False


def test_versions_count_up(tmp_path: Path) -> None:
    assert next_version(tmp_path, "urban-yolo") == "v1"
    for d in ("urban-yolo.v1", "urban-yolo.v7", "urban-yolo.synth-v1", "other.v9", "urban-yolo"):
        (tmp_path / d).mkdir()
    assert next_version(tmp_path, "urban-yolo") == "v8"


def test_serving_never_imports_training_torch_or_ultralytics() -> None:
    import subprocess
    import sys

    code = ("import sys, streetsight.cli, streetsight.runtime, streetsight.server\n"
            "streetsight.cli.build_parser()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('training', 'torch', 'ultralytics'))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
