"""incidents.detected_wall index (issue 13, statistics at city scale): the statistics aggregate a period of
incidents in SQL; with months of history in the table, the period is found by this index instead of a full scan
(PostgreSQL: a bitmap index scan instead of a sequential scan; SQLite: one range instead of one per status of
ix_incidents_status_detected_wall). Measured with EXPLAIN ANALYZE in docs/measurements/stats-bench-history.json
(20,000 incidents of the month among 220,000).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""
from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_incidents_detected_wall", "incidents", ["detected_wall"])


def downgrade() -> None:
    op.drop_index("ix_incidents_detected_wall", table_name="incidents")
