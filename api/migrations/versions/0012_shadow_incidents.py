"""incidents: a candidate model's would-be incidents in shadow mode (issue 19): status ``shadow`` (recorded,
judged through the serving model's decisions) and ``shadow_queue`` (sampled into the shadow review queue)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""
from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_STATUS = "ck_incidents_status"


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint(op.f(_STATUS), type_="check")
        batch.create_check_constraint(
            op.f(_STATUS), "status IN ('pending', 'confirmed', 'rejected', 'suppressed', 'shadow', 'shadow_queue')")


def downgrade() -> None:
    for table in ("evidence_items", "incident_embeddings"):
        op.execute(f"DELETE FROM {table} WHERE incident_id IN "
                   "(SELECT id FROM incidents WHERE status IN ('shadow', 'shadow_queue'))")
    op.execute("DELETE FROM incidents WHERE status IN ('shadow', 'shadow_queue')")  # no model judges them any more
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint(op.f(_STATUS), type_="check")
        batch.create_check_constraint(op.f(_STATUS), "status IN ('pending', 'confirmed', 'rejected', 'suppressed')")
