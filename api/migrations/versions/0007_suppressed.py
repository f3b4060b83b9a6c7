"""incidents: the verifier's judgement (issue 14): status ``suppressed`` (it matched a rejected decision at the
same camera and place), ``suppressed_by`` (that decision's incident) and ``priority`` (queue rank)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_STATUS = "ck_incidents_status"


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("suppressed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("priority", sa.Float(), nullable=False, server_default="0"))
        batch.drop_constraint(_STATUS, type_="check")
        batch.create_check_constraint(op.f(_STATUS), "status IN ('pending', 'confirmed', 'rejected', 'suppressed')")


def downgrade() -> None:
    op.execute("UPDATE incidents SET status = 'pending' WHERE status = 'suppressed'")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint(_STATUS, type_="check")
        batch.create_check_constraint(op.f(_STATUS), "status IN ('pending', 'confirmed', 'rejected')")
        batch.drop_column("priority")
        batch.drop_column("suppressed_by")
