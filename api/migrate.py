"""Schema migrations with Alembic, run in-process at start (``init_db``) on SQLite and PostgreSQL.

A database made by the skeleton (tables created without Alembic) is recognised and stamped with the
first revision before upgrading, so existing deployments keep their records.
"""
from __future__ import annotations

import logging
from pathlib import Path

logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines come at every start; ours say what changed

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Connection, Engine, inspect, text  # noqa: E402

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SKELETON_REVISION = "0001"
_PG_LOCK_KEY = 0x5EE7516  # any constant: serialises concurrent upgrades from several processes


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade to ``revision``; a no-op when the database is already there."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one: with foreign keys on, that drop
            # would delete the rows cascading from it (evidence, embeddings) or fail on a case referring to
            # it. Off outside a transaction (it is a no-op inside one), checked after, back on for the pool.
            conn.commit()
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            _adopt_skeleton_database(conn)
            before = MigrationContext.configure(conn).get_current_revision()
            command.upgrade(alembic_config(conn), revision)
            if sqlite:  # before the commit: a failed check rolls the upgrade back
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"schema upgrade would leave {len(broken)} dangling references: {broken[:5]}")
            conn.commit()
            after = MigrationContext.configure(conn).get_current_revision()
            if after != before:
                log.info("database schema upgraded: %s -> %s", before or "empty", after)
        finally:
            if sqlite:
                conn.rollback()  # nothing left after the commit above; after a failure, end it so the pragma applies
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()


def _adopt_skeleton_database(conn: Connection) -> None:
    tables = set(inspect(conn).get_table_names())
    if "incidents" in tables and "alembic_version" not in tables:
        log.info("database without migration history: stamping revision %s before upgrading", SKELETON_REVISION)
        command.stamp(alembic_config(conn), SKELETON_REVISION)
        conn.commit()
