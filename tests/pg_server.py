"""A private PostgreSQL cluster for the tests (Debian's `postgresql` binaries), on 127.0.0.1 with a free port.

``initdb`` + ``pg_ctl`` in a temporary folder, run as the ``postgres`` system user when the tests run as
root (PostgreSQL refuses to run as root), stopped by the postmaster's PID. Each test gets a fresh
database (``postgresql_url`` fixture); the cluster lives for the whole session.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streetsight.bench.postgres_server import PostgresServer, free_port, postgres_bin_dir  # noqa: F401
from tests.real_parts import missing_real_part


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if postgres_bin_dir() is None:
        missing_real_part("needs Debian postgresql (apt-get install postgresql)")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'streetsight.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.url(server.create_database())
