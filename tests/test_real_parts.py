"""A missing real part fails a CI run and skips a developer's run (tests/real_parts.py)."""
from __future__ import annotations

import pytest

from tests import real_parts


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_missing_part_fails_in_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="real part missing in CI: needs redis"):
        real_parts.missing_real_part("needs redis")


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_missing_part_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="needs redis"):
        real_parts.missing_real_part("needs redis")


def test_every_fixture_of_a_real_part_goes_through_the_rule() -> None:
    """No test module skips by itself for a missing server, browser or footage (that would hide it in CI)."""
    import re
    from pathlib import Path

    allowed = {  # skips that do not hide a missing part: a parameter that does not apply, a GPU this is not
        "SQLite only", "PostgreSQL: processes serialise", "this machine has CUDA",
    }
    offenders = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"pytest\.(skip\(|importorskip\(|mark\.skipif\()", line) and not any(a in line for a in allowed):
                if path.name in ("test_real_parts.py", "real_parts.py") or "hwdecode" in line or "cuda" in line.lower():
                    continue
                offenders.append(f"{path.name}:{n}: {line.strip()}")
    assert offenders == []
