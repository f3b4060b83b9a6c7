"""Fixtures shared by the scenario tests (import them into a test module to use them)."""
from __future__ import annotations

from pathlib import Path

import pytest
from tests.real_parts import missing_real_part


@pytest.fixture(scope="session")
def vtest_mp4() -> Path:
    """The sample street clip (as camera-like H.264), fetched by datasets/samples.py."""
    from datasets.samples import fetch_samples

    try:
        return fetch_samples(Path("var/samples"), bikes=False)["vtest.mp4"]
    except Exception as exc:  # pragma: no cover - only without Debian's opencv-doc
        missing_real_part(f"sample footage unavailable: {exc}")
