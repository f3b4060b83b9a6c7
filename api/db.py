"""Database records: the ORM models, engine creation and schema migration (Alembic).

Portable SQL only (SQLite and PostgreSQL): generic types, named constraints (so Alembic can manage
them), JSON columns, timestamps stored as UTC. The schema is owned by the migrations under
``api/migrations/versions``: a change here needs a new migration there (``tests/test_migrations.py``
checks that the two agree).
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

STATUSES = ("pending", "confirmed", "rejected")
DECISIONS = ("confirm", "reject")
CASE_STATUSES = ("manual", "queued", "dispatched", "handled", "verified", "closed", "reopened")
ROLES = ("reviewer", "admin", "trainer", "dispatch-callback", "docking-station")

# Deterministic constraint names: Alembic can then alter/drop them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite autoincrements only INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids for the growing tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out. SQLite keeps no zone, so naive values read back are UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IncidentRecord(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # given by the caller
    type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(128))
    zone: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # media time in seconds (the frame's timestamp, not the wall clock)
    started_at: Mapped[float] = mapped_column(Float)
    confirmed_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    detected_wall: Mapped[datetime] = mapped_column(UTCDateTime())
    class_name: Mapped[str] = mapped_column(String(64))
    box: Mapped[list[float]] = mapped_column(JsonType)  # [x1, y1, x2, y2] pixels
    score: Mapped[float] = mapped_column(Float)
    track_id: Mapped[int | None] = mapped_column(Integer)
    frame_size: Mapped[list[int]] = mapped_column(JsonType)  # [w, h]
    zone_polygon: Mapped[list[list[float]] | None] = mapped_column(JsonType)  # normalised
    labels: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    decision: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(128))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reject_reason: Mapped[str | None] = mapped_column(String(64))  # a reason code when rejected
    corrected_type: Mapped[str | None] = mapped_column(String(64))  # the reviewer's event type, if different
    # the pipeline's view of the violation after it opened (media time, and the wall clock when told)
    last_seen: Mapped[float | None] = mapped_column(Float)
    last_seen_wall: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_wall: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # None: the object left while watched; "interrupted": it left while its process was down (end unknown)
    ended_reason: Mapped[str | None] = mapped_column(String(32))
    evidence_missing: Mapped[dict[str, str] | None] = mapped_column(JsonType)  # kind -> why it does not exist
    # the verifier's judgement (issue 14): the rejected incident it matched, and a rank for the queue
    suppressed_by: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # earlier closed offences of the same object at the same place (issue 14 item 6; api.schemas.OffenceHistory)
    history: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    plate: Mapped[str | None] = mapped_column(String(16), index=True)  # the vehicle's plate read, for search

    evidence: Mapped[list[EvidenceRecord]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'confirmed', 'rejected', 'suppressed', 'shadow', 'shadow_queue')",
                        name="status"),
        CheckConstraint("decision IS NULL OR decision IN ('confirm', 'reject')", name="decision"),
        Index("ix_incidents_status_detected_wall", "status", "detected_wall"),
        Index("ix_incidents_detected_wall", "detected_wall"),  # a period of every status: the statistics (0014)
        Index("ix_incidents_source", "source"),
        Index("ix_incidents_type", "type"),
    )


class IncidentEmbeddingRecord(Base):
    """An incident's appearance vectors (object crop and context ring), computed once when it opened, so that
    review decisions can be learned from without re-reading evidence. A table of its own: listing incidents
    never loads the vectors, and no relationship on IncidentRecord loads them by accident.

    Stored as float16 little-endian bytes: 2.5 KB per 1280-d vector (a JSON list of the same floats is
    ~5x larger and slow to parse), and float16 keeps cosine similarities of unit vectors within ~1e-3."""

    __tablename__ = "incident_embeddings"

    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(128))  # name@version: vectors of different models never mix
    dim: Mapped[int] = mapped_column(Integer)
    crop: Mapped[bytes] = mapped_column(LargeBinary)
    ring: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvidenceRecord(Base):
    __tablename__ = "evidence_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # snapshot | snapshot_raw | clip | manifest
    key: Mapped[str] = mapped_column(String(512))  # path relative to the evidence store root
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(String(128))

    incident: Mapped[IncidentRecord] = relationship(back_populates="evidence")

    __table_args__ = (UniqueConstraint("incident_id", "kind", name="uq_evidence_items_incident_kind"),)


class UserRecord(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, never the password
    role: Mapped[str] = mapped_column(String(32))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("role IN ('reviewer', 'admin', 'trainer', 'dispatch-callback', 'docking-station')",
                        name="role"),
    )


class AuthTokenRecord(Base):
    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the random token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # session | api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditRecord(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))  # a username, or "system:<job>"
    action: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[str | None] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    source_id: Mapped[str | None] = mapped_column(String(128), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class CaseRecord(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # SS-YYYYMMDD-NNNNNN
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), unique=True)  # one case per incident
    status: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(128))
    queue_reason: Mapped[str | None] = mapped_column(String(255))  # why it waits for manual assignment
    national_code: Mapped[str | None] = mapped_column(String(32))
    local_code: Mapped[str | None] = mapped_column(String(32))
    labels: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    description: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(512))
    lng: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    grid: Mapped[str | None] = mapped_column(String(64))
    area: Mapped[str | None] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confidence: Mapped[float] = mapped_column(Float)
    reviewer: Mapped[str | None] = mapped_column(String(128))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)  # kind, key, sha256, size, content_type
    evidence_protected: Mapped[bool] = mapped_column(Boolean, default=False)
    dispatch_ref: Mapped[str | None] = mapped_column(String(128))  # the dispatch system's own id
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    recheck_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the dispatch lifecycle (0004): the current round with a department, its limit and deadlines
    rule_index: Mapped[int | None] = mapped_column(Integer)  # the dispatch rule that routed it, if one did
    dispatch_round: Mapped[int] = mapped_column(Integer, default=0)  # +1 at each delivery to a department
    time_limit_h: Mapped[float | None] = mapped_column(Float)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accept_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    closed_reason: Mapped[str | None] = mapped_column(String(512))  # closed as invalid: why

    __table_args__ = (
        CheckConstraint(
            "status IN ('manual', 'queued', 'dispatched', 'accepted', 'handled', 'verified', 'closed', 'reopened')",
            name="status",
        ),
        Index("ix_cases_status_created_at", "status", "created_at"),
    )


class CaseCounterRecord(Base):
    """Per-day sequence of case numbers."""

    __tablename__ = "case_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)  # YYYYMMDD
    last: Mapped[int] = mapped_column(Integer)


class OutboxRecord(Base):
    """A message for the dispatch system, kept until the receiver accepted it (never deleted)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)  # the Idempotency-Key, fixed at enqueue
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # case.created | case.reopened
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_outbox_delivered_at_next_attempt_at", "delivered_at", "next_attempt_at"),)


class CaseStageRecord(Base):
    """One stage of a case with its time (记时): filed, dispatched, accepted, handled, checked, closed,
    returned, reopened; ``round`` and ``department`` say which delivery to which department it belongs to."""

    __tablename__ = "case_stages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    round: Mapped[int] = mapped_column(Integer, default=0)
    department: Mapped[str | None] = mapped_column(String(128))
    area: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class DispatchCallbackRecord(Base):
    """Callbacks applied, by the sender's event id: a replayed callback changes nothing."""

    __tablename__ = "dispatch_callbacks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(128), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[dict[str, Any]] = mapped_column(JsonType)


FOOTAGE_STATUSES = ("queued", "running", "done", "failed")


class FootageJobRecord(Base):
    """An uploaded recording of an enforcement device and its analysis (issue 18): queued -> running ->
    done | failed. ``done_s`` is the checkpoint: media seconds analysed, from where a restart continues."""

    __tablename__ = "footage_jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    filename: Mapped[str] = mapped_column(String(255))
    video_key: Mapped[str] = mapped_column(String(1024))  # in the evidence store
    video_sha256: Mapped[str] = mapped_column(String(64))
    video_size: Mapped[int] = mapped_column(BigInteger)
    track_key: Mapped[str | None] = mapped_column(String(1024))
    track_format: Mapped[str | None] = mapped_column(String(8))  # gpx, nmea, csv
    track_points: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())  # wall time of the first frame
    started_at_from: Mapped[str] = mapped_column(String(32))  # "upload" or "container creation_time"
    duration_s: Mapped[float] = mapped_column(Float)
    done_s: Mapped[float] = mapped_column(Float, default=0.0)
    frames_analysed: Mapped[int] = mapped_column(Integer, default=0)
    incidents: Mapped[int] = mapped_column(Integer, default=0)
    unpositioned_frames: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # this run's start (wall clock, media s done then): the rate, hence the ETA, of the run going on
    run_started_wall: Mapped[datetime | None] = mapped_column(UTCDateTime())
    run_started_done_s: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # where the positions came from: "upload" (the track file), "embedded" (the file's own NMEA stream),
    # "live reports" (the device's position reports of that time), or None (none: every frame unpositioned)
    track_from: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status"),
        Index("ix_footage_jobs_status", "status"),
    )


class TrainingJobRecord(Base):
    """A retraining started from the UI (issue 19 item 4): the export -> train -> evaluate loop run in the training
    environment, queued -> running -> succeeded | failed | cancelled. ``pid`` is the process group of the run, so
    a restarted API finds a run it did not start and ends it (marked failed, never silently lost)."""

    __tablename__ = "training_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    dataset: Mapped[str] = mapped_column(String(128))  # a dataset folder under training.datasets_dir
    name: Mapped[str] = mapped_column(String(128))  # the model name; the result registers as <name>.v<N>
    params: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)  # epochs, imgsz, batch
    stage: Mapped[str | None] = mapped_column(String(32))  # dataset, train, export, evaluate, register, shadow
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    epochs: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JsonType)  # the last epoch's validation
    log_tail: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)  # the run's summary (evaluation, version)
    candidate: Mapped[str | None] = mapped_column(String(160))  # the registered version put in shadow mode
    error: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="status"),
        Index("ix_training_jobs_status", "status"),
    )


class PositionReportRecord(Base):
    """A moving camera's position report (``POST /api/v1/sources/{id}/position``), kept so that footage the
    device uploads later without a track is positioned from where it said it was (issue 18)."""

    __tablename__ = "position_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(128))
    time: Mapped[float] = mapped_column(Float)  # unix seconds: when the device was there
    lng: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_position_reports_source_time", "source", "time"),)


class SourceRecord(Base):
    """A camera: the YAML's source entry as JSON (``body``, with its URL as given: a password or a
    ``${ENV}`` reference in it stays here and is masked on every way out)."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JsonType)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaughtExampleRecord(Base):
    """A box a reviewer drew on a camera's snapshot and named (issue 14, teach by example): what the camera's
    rules should take (``positive``) or not take (``negative``) for ``event_type``. The crop's embedding is kept
    (float16 bytes, as ``incident_embeddings``), with a small JPEG of the crop for the UI."""

    __tablename__ = "taught_examples"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(16))
    box: Mapped[list[float]] = mapped_column(JsonType)  # [x1, y1, x2, y2] normalised to the snapshot
    frame_size: Mapped[list[int]] = mapped_column(JsonType)  # [w, h] of the frame it was cut from
    model: Mapped[str] = mapped_column(String(128))  # name@version of the embedding model
    dim: Mapped[int] = mapped_column(Integer)
    crop: Mapped[bytes] = mapped_column(LargeBinary)
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("label IN ('positive', 'negative')", name="label"),
        Index("ix_taught_examples_source", "source"),
    )


class SourceCatalogRecord(Base):
    """One row: when the YAML's sources were imported (so a camera deleted later is not re-imported at the
    next start) and a version that every change of the sources increments."""

    __tablename__ = "source_catalog"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(BigId, default=0)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")  # readers don't block the pipeline's writes
    cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync on checkpoint only
    cur.close()


def create_engine_for(url: str) -> Engine:
    """An engine for ``url``. SQLite: usable across threads, WAL, foreign keys on, parent folder made."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {
        # timeout: a writer waits this long for another writer's lock instead of failing at once
        "connect_args": {"check_same_thread": False, "timeout": 30},
    }
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, else each session sees its own DB
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def init_db(engine: Engine) -> None:
    """Bring the schema up to date with the Alembic migrations (safe to call at every start)."""
    from .migrate import upgrade

    upgrade(engine)


def make_session_factory(engine: Engine) -> sessionmaker:
    # expire_on_commit off: records stay readable after the session that loaded them closes
    return sessionmaker(bind=engine, expire_on_commit=False)
