"""Where the tests' benchmarks (`python -m tests.bench_*`) put their result: one JSON object, printed and written
to var/bench/<name>.json (the ones the README quotes are copied, unedited, to docs/measurements/)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def report(name: str, result: dict[str, Any]) -> Path:
    text = json.dumps(result, indent=2)
    out = Path("var/bench") / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    return out
