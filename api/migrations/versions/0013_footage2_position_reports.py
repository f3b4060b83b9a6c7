"""position_reports (issue 18): moving cameras' live position reports are kept, so footage uploaded later
without a track is positioned from them; footage_jobs.track_from says where a job's positions came from

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.db import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "position_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_position_reports"),
    )
    op.create_index("ix_position_reports_source_time", "position_reports", ["source", "time"])
    with op.batch_alter_table("footage_jobs") as batch:
        batch.add_column(sa.Column("track_from", sa.String(16), nullable=True))
    # jobs made before this revision took their positions from an uploaded track or had none
    op.execute("UPDATE footage_jobs SET track_from = 'upload' WHERE track_key IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("footage_jobs") as batch:
        batch.drop_column("track_from")
    op.drop_index("ix_position_reports_source_time", table_name="position_reports")
    op.drop_table("position_reports")
