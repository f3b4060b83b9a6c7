"""the dispatch lifecycle: time limits and deadlines of the current round, the status ``accepted`` (签收),
the rule that routed a case, why it was closed as invalid, and the time-stamped stages of every case

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.db import BigId, JsonType, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_STATUSES = "('manual', 'queued', 'dispatched', 'handled', 'verified', 'closed', 'reopened')"
NEW_STATUSES = "('manual', 'queued', 'dispatched', 'accepted', 'handled', 'verified', 'closed', 'reopened')"


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("rule_index", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("dispatch_round", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("time_limit_h", sa.Float(), nullable=True))
        batch.add_column(sa.Column("dispatched_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("accepted_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("accept_due_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("remind_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("deadline_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("closed_reason", sa.String(512), nullable=True))
        batch.drop_constraint("ck_cases_status", type_="check")
        batch.create_check_constraint("status", f"status IN {NEW_STATUSES}")
        batch.create_index("ix_cases_deadline_at", ["deadline_at"])
    op.create_table(
        "case_stages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", name="fk_case_stages_case_id_cases"),
                  nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(128), nullable=True),
        sa.Column("area", sa.String(128), nullable=True),
        sa.Column("detail", JsonType, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_case_stages"),
    )
    op.create_index("ix_case_stages_case_id", "case_stages", ["case_id"])
    op.create_index("ix_case_stages_at", "case_stages", ["at"])


def downgrade() -> None:
    op.drop_table("case_stages")
    op.execute("UPDATE cases SET status = 'dispatched' WHERE status = 'accepted'")
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_deadline_at")
        batch.drop_constraint("ck_cases_status", type_="check")
        batch.create_check_constraint("status", f"status IN {OLD_STATUSES}")
        for column in ("closed_reason", "deadline_at", "remind_at", "accept_due_at", "accepted_at", "dispatched_at",
                       "time_limit_h", "dispatch_round", "rule_index"):
            batch.drop_column(column)
