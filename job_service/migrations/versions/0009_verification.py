"""Verification after apply (issue 14): VERIFY jobs, verdicts on suggestions, and the
workload snapshots they compare.

- `job.kind` may be VERIFY (`ck_job_kind` rebuilt).
- `suggestion.verdict` (IMPROVED, NO_EFFECT, REGRESSED, INCONCLUSIVE; NULL until a VERIFY
  job finished) and `suggestion.verification` (the whole pgsage.jobs.v1.Verification).
- `workload_snapshot`: a target's pg_stat_statements totals (and, in `detail`, its tables'
  and indexes' statistics) at one moment; `workload_snapshot_statement`: the figures of the
  statements it read. Kept for a retention period, without foreign keys to jobs.

Revision ID: 0009
Revises: 0011
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0011"
branch_labels = None
depends_on = None

_KINDS_BEFORE = "kind IN ('ANALYZE', 'BENCHMARK', 'APPLY', 'ROLLBACK')"
_KINDS = "kind IN ('ANALYZE', 'BENCHMARK', 'APPLY', 'ROLLBACK', 'VERIFY')"
_VERDICTS = "verdict IS NULL OR verdict IN ('IMPROVED', 'NO_EFFECT', 'REGRESSED', 'INCONCLUSIVE')"
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_constraint(op.f("ck_job_kind"), "job", type_="check")
    op.create_check_constraint(op.f("ck_job_kind"), "job", sa.text(_KINDS))
    op.add_column("suggestion", sa.Column("verdict", sa.Text(), nullable=True))
    op.add_column("suggestion", sa.Column("verification", sa.LargeBinary(), nullable=True))
    op.create_check_constraint(op.f("ck_suggestion_verdict"), "suggestion", sa.text(_VERDICTS))
    op.create_table(
        "workload_snapshot",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("time", _TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("suggestion_job_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("suggestion_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("stats_reset", _TS, nullable=True),
        sa.Column("deallocations", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("statements", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("calls", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("total_exec_time_ms", sa.Double(), nullable=False, server_default=sa.text("0")),
        sa.Column("detail", sa.LargeBinary(), nullable=True),
        sa.Column("create_time", _TS, nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workload_snapshot")),
        sa.CheckConstraint(
            "reason IN ('APPLY', 'VERIFY')", name=op.f("ck_workload_snapshot_reason")
        ),
    )
    op.create_index(
        "ix_workload_snapshot_time_id",
        "workload_snapshot",
        [sa.text("time DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_workload_snapshot_target_time_id",
        "workload_snapshot",
        ["target", sa.text("time DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_workload_snapshot_suggestion_id_time",
        "workload_snapshot",
        ["suggestion_id", sa.text("time DESC")],
    )
    op.create_table(
        "workload_snapshot_statement",
        sa.Column("snapshot_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("query_id", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False, server_default=""),
        sa.Column("statement_kind", sa.Text(), nullable=False, server_default=""),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("total_exec_time_ms", sa.Double(), nullable=False),
        sa.Column("mean_exec_time_ms", sa.Double(), nullable=False),
        sa.Column("stddev_exec_time_ms", sa.Double(), nullable=False),
        sa.Column("shared_blks_hit", sa.BigInteger(), nullable=False),
        sa.Column("shared_blks_read", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("requested_as", sa.Text(), nullable=False, server_default=""),
        sa.Column(
            "tables",
            postgresql.ARRAY(sa.Text()),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["workload_snapshot.id"],
            name=op.f("fk_workload_snapshot_statement_snapshot_id_workload_snapshot"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "snapshot_id", "query_id", name=op.f("pk_workload_snapshot_statement")
        ),
    )


def downgrade() -> None:
    op.drop_table("workload_snapshot_statement")
    op.drop_table("workload_snapshot")
    op.drop_constraint(op.f("ck_suggestion_verdict"), "suggestion", type_="check")
    op.drop_column("suggestion", "verification")
    op.drop_column("suggestion", "verdict")
    # VERIFY jobs cannot stay under the old constraint.
    op.execute("DELETE FROM job WHERE kind = 'VERIFY'")
    op.drop_constraint(op.f("ck_job_kind"), "job", type_="check")
    op.create_check_constraint(op.f("ck_job_kind"), "job", sa.text(_KINDS_BEFORE))
