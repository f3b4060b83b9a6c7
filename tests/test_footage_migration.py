"""Migration 0009 (issue 18) on SQLite and PostgreSQL: the footage jobs table and the docking-station role come
and go with their records intact (users and their tokens are copied through SQLite's table rebuild)."""
from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from api.db import create_engine_for
from api.migrate import alembic_config, current_revision, upgrade

USER = ("INSERT INTO users (username, password_hash, role, disabled, created_at) "
        "VALUES (:name, 'h', :role, false, '2026-01-01')")
TOKEN = ("INSERT INTO auth_tokens (token_hash, user_id, kind, created_at, expires_at) "
         "SELECT :hash, id, 'api', '2026-01-01', '2030-01-01' FROM users WHERE username = :name")


def downgrade(engine, revision: str) -> None:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.commit()
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # as api.migrate.upgrade does for the rebuild
        command.downgrade(alembic_config(conn), revision)
        conn.commit()


def test_0009_adds_footage_jobs_and_the_docking_station_role_and_goes_back(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        upgrade(engine, "0008")
        with engine.begin() as c:
            c.execute(text(USER), {"name": "wang", "role": "reviewer"})
            c.execute(text(TOKEN), {"hash": "a" * 64, "name": "wang"})
        with pytest.raises(IntegrityError), engine.begin() as c:
            c.execute(text(USER), {"name": "dock-7", "role": "docking-station"})

        upgrade(engine, "0009")
        assert current_revision(engine) == "0009" and "footage_jobs" in inspect(engine).get_table_names()
        with engine.begin() as c:
            c.execute(text(USER), {"name": "dock-7", "role": "docking-station"})
            c.execute(text(TOKEN), {"hash": "b" * 64, "name": "dock-7"})
            assert c.execute(text("SELECT count(*) FROM auth_tokens")).scalar() == 2

        downgrade(engine, "0008")
        assert "footage_jobs" not in inspect(engine).get_table_names()
        with engine.begin() as c:  # the machine accounts go with their role; everyone else stays
            assert c.execute(text("SELECT username FROM users")).scalars().all() == ["wang"]
            assert c.execute(text("SELECT token_hash FROM auth_tokens")).scalars().all() == ["a" * 64]
        with pytest.raises(IntegrityError), engine.begin() as c:
            c.execute(text(USER), {"name": "dock-8", "role": "docking-station"})
        upgrade(engine)
        assert "footage_jobs" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
