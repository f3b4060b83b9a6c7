"""incident_embeddings: each incident's appearance vectors (object crop and context ring, float16 bytes)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_embeddings",
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("crop", sa.LargeBinary(), nullable=False),
        sa.Column("ring", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE",
                                name="fk_incident_embeddings_incident_id_incidents"),
        sa.PrimaryKeyConstraint("incident_id", name="pk_incident_embeddings"),
    )


def downgrade() -> None:
    op.drop_table("incident_embeddings")
