"""One rule for a missing real part (PostgreSQL, Redis, S3, the RTSP server, Chromium, the sample footage):
a developer's run skips the tests that need it and says what to install; a CI run (``CI`` set) fails them, so
a broken bootstrap can never give a green CI."""
from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """CI sets ``CI`` (to ``true``); an empty value or ``0``/``false`` counts as unset."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_real_part(reason: str) -> NoReturn:
    """Stop the current test: fail under CI, skip elsewhere. ``reason`` names the part and how to install it."""
    if in_ci():
        pytest.fail(f"real part missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)
