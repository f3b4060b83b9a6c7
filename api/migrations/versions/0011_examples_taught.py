"""taught examples (issue 14, teach by example): boxes reviewers draw on a camera's snapshot and name, with
the crop's embedding

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.db import JsonType, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "taught_examples",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("box", JsonType, nullable=False),
        sa.Column("frame_size", JsonType, nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("crop", sa.LargeBinary(), nullable=False),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("label IN ('positive', 'negative')", name=op.f("ck_taught_examples_label")),
        sa.PrimaryKeyConstraint("id", name="pk_taught_examples"),
    )
    op.create_index("ix_taught_examples_source", "taught_examples", ["source"])


def downgrade() -> None:
    op.drop_index("ix_taught_examples_source", table_name="taught_examples")
    op.drop_table("taught_examples")
