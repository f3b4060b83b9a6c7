"""incidents: why an incident ended (``ended_reason``, e.g. interrupted by a crash) and which evidence is
missing and why (``evidence_missing``, e.g. the clip of a process that died before the post-roll)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.db import JsonType

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("ended_reason", sa.String(32), nullable=True))
        batch.add_column(sa.Column("evidence_missing", JsonType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("evidence_missing")
        batch.drop_column("ended_reason")
