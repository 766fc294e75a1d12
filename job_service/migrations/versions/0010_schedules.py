"""Schedules of analyses, and comparisons of an analysis with the previous one (issue 14).

- `schedule`: a cron expression in a time zone, the options of each ANALYZE, paused or not,
  the next tick (moved on by the statement that fires it, in the transaction that creates
  the tick's job), the last run and its job, who created it, an etag version.
- `job.schedule_id`, `job.schedule_time`: the schedule and tick a job was created for;
  `uq_job_schedule_id_schedule_time` makes one job per tick a rule of the store.
- `ix_job_target_end_time_analyze`: the previous successful ANALYZE of a target.
- `suggestion.new_since_last_analysis`: the previous analysis did not make it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("display_name", sa.Text(), server_default="", nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("cron", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "analysis_types", ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("options", sa.LargeBinary(), nullable=True),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("next_run_time", _TS, nullable=True),
        sa.Column("last_run_time", _TS, nullable=True),
        sa.Column("last_job_id", UUID(as_uuid=True), nullable=True),
        sa.Column("creator", sa.Text(), nullable=False),
        sa.Column("creator_subject", sa.Text(), server_default="", nullable=False),
        sa.Column("create_time", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("update_time", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedule"),
        sa.UniqueConstraint("request_id", name="uq_schedule_request_id"),
        sa.CheckConstraint("paused OR next_run_time IS NOT NULL", name="ck_schedule_next_run"),
    )
    op.create_index(
        "ix_schedule_create_time_id",
        "schedule",
        [sa.text("create_time DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_schedule_target_create_time_id",
        "schedule",
        ["target", sa.text("create_time DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_schedule_next_run_time",
        "schedule",
        ["next_run_time"],
        postgresql_where=sa.text("NOT paused"),
    )
    op.add_column("job", sa.Column("schedule_id", UUID(as_uuid=True), nullable=True))
    op.add_column("job", sa.Column("schedule_time", _TS, nullable=True))
    op.create_index(
        "uq_job_schedule_id_schedule_time",
        "job",
        ["schedule_id", "schedule_time"],
        unique=True,
        postgresql_where=sa.text("schedule_id IS NOT NULL"),
    )
    op.create_index(
        "ix_job_target_end_time_analyze",
        "job",
        ["target", sa.text("end_time DESC")],
        postgresql_where=sa.text("kind = 'ANALYZE' AND state = 'SUCCEEDED'"),
    )
    op.add_column(
        "suggestion",
        sa.Column(
            "new_since_last_analysis",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("suggestion", "new_since_last_analysis")
    op.drop_index("ix_job_target_end_time_analyze", table_name="job")
    op.drop_index("uq_job_schedule_id_schedule_time", table_name="job")
    op.drop_column("job", "schedule_time")
    op.drop_column("job", "schedule_id")
    op.drop_index("ix_schedule_next_run_time", table_name="schedule")
    op.drop_index("ix_schedule_target_create_time_id", table_name="schedule")
    op.drop_index("ix_schedule_create_time_id", table_name="schedule")
    op.drop_table("schedule")
