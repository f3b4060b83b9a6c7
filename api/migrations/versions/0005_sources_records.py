"""sources as records (issue 13): cameras, the catalog's version, audit rows per source, an incident's end
reason

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.db import BigId, JsonType, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("body", JsonType, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sources"),
    )
    op.create_table(
        "source_catalog",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seeded_at", UTCDateTime(), nullable=True),
        sa.Column("version", BigId, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_source_catalog"),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("source_id", sa.String(128), nullable=True))
        batch.create_index("ix_audit_log_source_id", ["source_id"])


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_source_id")
        batch.drop_column("source_id")
    op.drop_table("source_catalog")
    op.drop_table("sources")
