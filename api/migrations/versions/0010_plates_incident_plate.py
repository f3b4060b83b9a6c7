"""incidents: ``plate``, the licence plate read of a motor-vehicle incident (issue 15), indexed for search.
The rest of the read (confidence, validity, close-up) stays in ``extra.vehicle``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("plate", sa.String(16), nullable=True))
    op.create_index("ix_incidents_plate", "incidents", ["plate"])


def downgrade() -> None:
    op.drop_index("ix_incidents_plate", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("plate")
