"""Alembic migrations on SQLite and PostgreSQL: the migrated schema equals the ORM's, a skeleton-era
database is adopted with its records, and concurrent starts upgrade once."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from api.db import Base, create_engine_for, init_db
from api.migrate import current_revision, head_revision, upgrade


def test_migrations_build_exactly_the_orm_schema(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        init_db(engine)
        init_db(engine)  # every start calls it: a no-op the second time
        assert current_revision(engine) == head_revision() != ""
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        assert {"incidents", "evidence_items", "users", "auth_tokens", "audit_log", "cases", "case_counters",
                "outbox", "dispatch_callbacks"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_skeleton_database_is_adopted_with_its_records(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        upgrade(engine, "0001")  # the skeleton's tables, made without migration history:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
            conn.execute(text(
                "INSERT INTO incidents (id, type, source, status, started_at, confirmed_at, detected_wall, class_name,"
                " box, score, frame_size) VALUES ('inc_old', 'illegal_parking', 'cam', 'pending', 1, 2, :t, 'car',"
                " '[1, 2, 3, 4]', 0.9, '[10, 10]')"), {"t": datetime(2025, 1, 1, tzinfo=timezone.utc)})
        assert current_revision(engine) is None
        init_db(engine)
        assert current_revision(engine) == head_revision()
        from api import IncidentRepository, make_session_factory

        old = IncidentRepository(make_session_factory(engine)).get("inc_old")
        assert old is not None and old.box == (1, 2, 3, 4) and old.review is None
        columns = {c["name"] for c in inspect(engine).get_columns("incidents")}
        assert {"reject_reason", "corrected_type", "last_seen", "last_seen_wall", "ended_wall"} <= columns
    finally:
        engine.dispose()


def test_concurrent_starts_upgrade_once(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        import pytest

        pytest.skip("PostgreSQL: processes serialise on an advisory lock")
    engines = [create_engine_for(database_url) for _ in range(4)]
    errors: list[BaseException] = []

    def start(engine) -> None:
        try:
            init_db(engine)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert current_revision(engines[0]) == head_revision()
    finally:
        for e in engines:
            e.dispose()


def test_upgrading_a_database_in_use_keeps_every_incidents_evidence_embedding_and_case(database_url: str) -> None:
    """SQLite alters a table by copying it: with foreign keys on, dropping the old ``incidents`` would delete
    the rows that cascade from it (evidence, embeddings) or fail on a case that refers to it."""
    engine = create_engine_for(database_url)
    try:
        upgrade(engine, "0004")
        t = datetime(2025, 1, 1, tzinfo=timezone.utc)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO incidents (id, type, source, status, started_at, confirmed_at, detected_wall, class_name,"
                " box, score, frame_size) VALUES ('inc_old', 'illegal_parking', 'cam', 'confirmed', 1, 2, :t, 'car',"
                " '[1, 2, 3, 4]', 0.9, '[10, 10]')"), {"t": t})
            conn.execute(text(
                "INSERT INTO evidence_items (incident_id, kind, key, sha256, size, content_type)"
                " VALUES ('inc_old', 'snapshot', 'k/snapshot.jpg', :sha, 3, 'image/jpeg')"), {"sha": "0" * 64})
            conn.execute(text(
                "INSERT INTO incident_embeddings (incident_id, model, dim, crop, created_at)"
                " VALUES ('inc_old', 'm@1', 2, :crop, :t)"), {"crop": b"\x00\x3c\x00\x3c", "t": t})
        init_db(engine)
        assert current_revision(engine) == head_revision()
        from api import IncidentRepository, make_session_factory

        repo = IncidentRepository(make_session_factory(engine))
        old = repo.get("inc_old")
        assert old is not None and set(old.evidence) == {"snapshot"} and old.priority == 0.0
        assert repo.embedding("inc_old") is not None
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:  # the pool's connections keep enforcing foreign keys
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
