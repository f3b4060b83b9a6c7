"""Alembic environment. Run by :func:`api.migrate.upgrade` with an open connection (the usual path), or
by the ``alembic`` command with ``-x url=...`` / ``STREETSIGHT_DATABASE_URL`` for hand-made revisions."""
from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from api.db import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("STREETSIGHT_DATABASE_URL")
    if not url:
        raise SystemExit("alembic: give the database as -x url=... or STREETSIGHT_DATABASE_URL")
    engine = create_engine(url)
    with engine.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
