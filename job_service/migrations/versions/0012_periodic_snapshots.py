"""Periodic workload snapshots of every target (issue 14, the target page).

- `workload_snapshot.reason` may be PERIODIC: the job service's watch of each target, every
  `PGSAGE_JOBS_SNAPSHOT_INTERVAL`, whose totals the target page charts.
- `snapshot_tick`: one row per target and tick, written by the replica that takes the
  tick's snapshot in the transaction that stores it; its primary key makes one snapshot per
  tick a rule of the store, whatever the number of replicas. It goes with its snapshot.

Revision ID: 0012
Revises: 0015
Create Date: 2026-12-05 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0015"
branch_labels = None
depends_on = None

_REASONS_BEFORE = "reason IN ('APPLY', 'VERIFY')"
_REASONS = "reason IN ('APPLY', 'VERIFY', 'PERIODIC')"
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_constraint(op.f("ck_workload_snapshot_reason"), "workload_snapshot", type_="check")
    op.create_check_constraint(
        op.f("ck_workload_snapshot_reason"), "workload_snapshot", sa.text(_REASONS)
    )
    op.create_table(
        "snapshot_tick",
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("tick", _TS, nullable=False),
        sa.Column("snapshot_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("taker", sa.Text(), nullable=False, server_default=""),
        sa.Column("create_time", _TS, nullable=False, server_default=sa.text("now()")),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["workload_snapshot.id"],
            name=op.f("fk_snapshot_tick_snapshot_id_workload_snapshot"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("target", "tick", name=op.f("pk_snapshot_tick")),
    )
    op.create_index("ix_snapshot_tick_snapshot_id", "snapshot_tick", ["snapshot_id"])


def downgrade() -> None:
    op.drop_index("ix_snapshot_tick_snapshot_id", table_name="snapshot_tick")
    op.drop_table("snapshot_tick")
    # Periodic snapshots cannot stay under the old constraint.
    op.execute("DELETE FROM workload_snapshot WHERE reason = 'PERIODIC'")
    op.drop_constraint(op.f("ck_workload_snapshot_reason"), "workload_snapshot", type_="check")
    op.create_check_constraint(
        op.f("ck_workload_snapshot_reason"), "workload_snapshot", sa.text(_REASONS_BEFORE)
    )
