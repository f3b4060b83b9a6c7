"""footage_jobs (issue 18): uploaded recordings of enforcement devices and their analysis jobs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ROLE = "ck_users_role"
ROLES_BEFORE = ("reviewer", "admin", "trainer", "dispatch-callback")
ROLES_AFTER = (*ROLES_BEFORE, "docking-station")


def _roles(roles: tuple[str, ...]) -> str:
    return ", ".join(f"'{r}'" for r in roles)


def upgrade() -> None:
    op.create_table(
        "footage_jobs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("video_key", sa.String(1024), nullable=False),
        sa.Column("video_sha256", sa.String(64), nullable=False),
        sa.Column("video_size", sa.BigInteger(), nullable=False),
        sa.Column("track_key", sa.String(1024), nullable=True),
        sa.Column("track_format", sa.String(8), nullable=True),
        sa.Column("track_points", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("started_at_from", sa.String(32), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("done_s", sa.Float(), nullable=False),
        sa.Column("frames_analysed", sa.Integer(), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.Column("unpositioned_frames", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("run_started_wall", UTCDateTime(), nullable=True),
        sa.Column("run_started_done_s", sa.Float(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="ck_footage_jobs_status"),
        sa.PrimaryKeyConstraint("id", name="pk_footage_jobs"),
    )
    op.create_index("ix_footage_jobs_status", "footage_jobs", ["status"])
    # docking stations upload footage with a machine account. 0002 named the check through the naming convention
    # (ck_users_ck_users_role); from here it has the ORM's name, ck_users_role (op.f: taken as given)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(_ROLE, type_="check")
        batch.create_check_constraint(op.f(_ROLE), f"role IN ({_roles(ROLES_AFTER)})")


def downgrade() -> None:
    op.execute("DELETE FROM auth_tokens WHERE user_id IN (SELECT id FROM users WHERE role = 'docking-station')")
    op.execute("DELETE FROM users WHERE role = 'docking-station'")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f(_ROLE), type_="check")
        batch.create_check_constraint(_ROLE, f"role IN ({_roles(ROLES_BEFORE)})")  # as 0002 made it
    op.drop_index("ix_footage_jobs_status", table_name="footage_jobs")
    op.drop_table("footage_jobs")
