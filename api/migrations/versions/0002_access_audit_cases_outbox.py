"""users and tokens, audit log, cases, case numbers, dispatch outbox and callbacks; review reason,
corrected type and last-seen times on incidents

Revision ID: 0002
Revises: 0001
Create Date: 2025-05-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.db import BigId, JsonType, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("reject_reason", sa.String(64), nullable=True))
        batch.add_column(sa.Column("corrected_type", sa.String(64), nullable=True))
        batch.add_column(sa.Column("last_seen", sa.Float(), nullable=True))
        batch.add_column(sa.Column("last_seen_wall", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("ended_wall", UTCDateTime(), nullable=True))

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('reviewer', 'admin', 'trainer', 'dispatch-callback')", name="ck_users_role"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE", name="fk_auth_tokens_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_auth_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_auth_tokens_token_hash"),
    )
    op.create_index("ix_auth_tokens_user_id", "auth_tokens", ["user_id"])
    op.create_index("ix_auth_tokens_expires_at", "auth_tokens", ["expires_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("incident_id", sa.String(64), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("before", JsonType, nullable=True),
        sa.Column("after", JsonType, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_incident_id", "audit_log", ["incident_id"])
    op.create_index("ix_audit_log_case_id", "audit_log", ["case_id"])
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("department", sa.String(128), nullable=True),
        sa.Column("queue_reason", sa.String(255), nullable=True),
        sa.Column("national_code", sa.String(32), nullable=True),
        sa.Column("local_code", sa.String(32), nullable=True),
        sa.Column("labels", JsonType, nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("address", sa.String(512), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("grid", sa.String(64), nullable=True),
        sa.Column("area", sa.String(128), nullable=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=True),
        sa.Column("evidence", JsonType, nullable=False),
        sa.Column("evidence_protected", sa.Boolean(), nullable=False),
        sa.Column("dispatch_ref", sa.String(128), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("recheck_due_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('manual', 'queued', 'dispatched', 'handled', 'verified', 'closed', 'reopened')",
            name="ck_cases_status",
        ),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name="fk_cases_incident_id_incidents"),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.UniqueConstraint("number", name="uq_cases_number"),
        sa.UniqueConstraint("incident_id", name="uq_cases_incident_id"),
    )
    op.create_index("ix_cases_status_created_at", "cases", ["status", "created_at"])
    op.create_index("ix_cases_recheck_due_at", "cases", ["recheck_due_at"])
    op.create_table(
        "case_counters",
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name="pk_case_counters"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", JsonType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_outbox_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_case_id", "outbox", ["case_id"])
    op.create_index("ix_outbox_delivered_at_next_attempt_at", "outbox", ["delivered_at", "next_attempt_at"])
    op.create_table(
        "dispatch_callbacks",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("body", JsonType, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_dispatch_callbacks_case_id_cases"),
        sa.PrimaryKeyConstraint("id", name="pk_dispatch_callbacks"),
        sa.UniqueConstraint("event_id", name="uq_dispatch_callbacks_event_id"),
    )
    op.create_index("ix_dispatch_callbacks_case_id", "dispatch_callbacks", ["case_id"])


def downgrade() -> None:
    for table in ("dispatch_callbacks", "outbox", "case_counters", "cases", "audit_log", "auth_tokens", "users"):
        op.drop_table(table)
    with op.batch_alter_table("incidents") as batch:
        for column in ("ended_wall", "last_seen_wall", "last_seen", "corrected_type", "reject_reason"):
            batch.drop_column(column)
