"""incidents and their evidence (the skeleton's schema)

Revision ID: 0001
Revises:
Create Date: 2025-05-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.db import JsonType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("zone", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("confirmed_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("detected_wall", UTCDateTime(), nullable=False),
        sa.Column("class_name", sa.String(64), nullable=False),
        sa.Column("box", JsonType, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("frame_size", JsonType, nullable=False),
        sa.Column("zone_polygon", JsonType, nullable=True),
        sa.Column("labels", JsonType, nullable=True),
        sa.Column("extra", JsonType, nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(128), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'rejected')", name="ck_incidents_status"),
        sa.CheckConstraint("decision IS NULL OR decision IN ('confirm', 'reject')", name="ck_incidents_decision"),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_status_detected_wall", "incidents", ["status", "detected_wall"])
    op.create_index("ix_incidents_source", "incidents", ["source"])
    op.create_index("ix_incidents_type", "incidents", ["type"])
    op.create_table(
        "evidence_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE",
                                name="fk_evidence_items_incident_id_incidents"),
        sa.PrimaryKeyConstraint("id", name="pk_evidence_items"),
        sa.UniqueConstraint("incident_id", "kind", name="uq_evidence_items_incident_kind"),
    )


def downgrade() -> None:
    op.drop_table("evidence_items")
    op.drop_index("ix_incidents_type", table_name="incidents")
    op.drop_index("ix_incidents_source", table_name="incidents")
    op.drop_index("ix_incidents_status_detected_wall", table_name="incidents")
    op.drop_table("incidents")
