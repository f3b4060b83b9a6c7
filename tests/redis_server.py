"""A private Redis for the tests: the fixture ``redis_server`` (fresh per test, AOF in the test's tmp folder).

The process helper lives in the package (``streetsight.bench.redis_server``) so that ``streetsight bench``
can use it too; the names are re-exported here.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from streetsight.bench.redis_server import REDIS_SERVER, RedisServer, free_port  # noqa: F401
from tests.real_parts import missing_real_part


def redis_unavailable() -> str | None:
    return None if os.path.exists(REDIS_SERVER) else "redis-server is not installed (apt-get install redis-server)"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh Redis per test (AOF in the test's tmp folder)."""
    if (reason := redis_unavailable()) is not None:
        missing_real_part(reason)
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()
