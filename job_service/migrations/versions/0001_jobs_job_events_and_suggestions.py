"""Jobs, job events and suggestions: the job store as issue 2 defines it.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24 02:26:58.550199
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column(
            "analysis_types",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("options", sa.LargeBinary(), nullable=True),
        sa.Column(
            "queries", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("suggestion_job_id", sa.UUID(), nullable=True),
        sa.Column("suggestion_id", sa.UUID(), nullable=True),
        sa.Column("progress_stage", sa.Text(), server_default="", nullable=False),
        sa.Column("progress_percent", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.Column("progress_message", sa.Text(), server_default="", nullable=False),
        sa.Column("query_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("insight_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("suggestion_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("statistics_start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("statistics_end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.LargeBinary(), nullable=True),
        sa.Column("workload", sa.LargeBinary(), nullable=True),
        sa.Column("attempt", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default=sa.text("3"), nullable=False),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "cancel_requested", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column(
            "create_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "update_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('ANALYZE', 'BENCHMARK', 'APPLY', 'ROLLBACK')", name=op.f("ck_job_kind")
        ),
        sa.CheckConstraint(
            "state IN ('PENDING', 'RUNNING', 'CANCELLING', 'SUCCEEDED', 'FAILED', 'CANCELLED')",
            name=op.f("ck_job_state"),
        ),
        sa.CheckConstraint("attempt >= 0 AND max_attempts >= 1", name=op.f("ck_job_attempts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
        sa.UniqueConstraint("request_id", name=op.f("uq_job_request_id")),
    )
    op.create_index(
        "ix_job_create_time_id",
        "job",
        [sa.literal_column("create_time DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_job_expire_time",
        "job",
        ["expire_time"],
        unique=False,
        postgresql_where=sa.text("expire_time IS NOT NULL"),
    )
    op.create_index(
        "ix_job_kind_create_time_id",
        "job",
        ["kind", sa.literal_column("create_time DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_job_lease_expire_time",
        "job",
        ["lease_expire_time"],
        unique=False,
        postgresql_where=sa.text("state IN ('RUNNING', 'CANCELLING')"),
    )
    op.create_index(
        "ix_job_state_create_time_id",
        "job",
        ["state", sa.literal_column("create_time DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_job_state_target_create_time_id",
        "job",
        ["state", "target", sa.literal_column("create_time DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_job_target_create_time_id",
        "job",
        ["target", sa.literal_column("create_time DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_table(
        "job_event",
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column(
            "event_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("suggestion_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_job_event_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "revision", name=op.f("pk_job_event")),
    )
    op.create_table(
        "suggestion",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("rollback_sql", sa.Text(), server_default="", nullable=False),
        sa.Column("edited_sql", sa.Text(), nullable=True),
        sa.Column("edited_rollback_sql", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("dismiss_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("details", sa.LargeBinary(), nullable=True),
        sa.Column("attempt", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("superseded", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("prior_decision", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "benchmarks",
            postgresql.ARRAY(sa.LargeBinary()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("failure_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column(
            "create_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "update_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('CREATE_INDEX', 'DROP_UNUSED_INDEX', 'DROP_DUPLICATE_INDEX')",
            name=op.f("ck_suggestion_kind"),
        ),
        sa.CheckConstraint(
            "state IN ('PENDING', 'APPROVED', 'DISMISSED', 'APPLYING', 'APPLIED', "
            "'APPLY_FAILED', 'ROLLING_BACK', 'ROLLED_BACK', 'ROLLBACK_FAILED')",
            name=op.f("ck_suggestion_state"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_suggestion_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion")),
        sa.UniqueConstraint("job_id", "fingerprint", name=op.f("uq_suggestion_job_id_fingerprint")),
    )
    op.create_index(
        "ix_suggestion_create_time_id",
        "suggestion",
        [sa.literal_column("create_time DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_suggestion_job_id_create_time_id",
        "suggestion",
        ["job_id", sa.literal_column("create_time DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_suggestion_state_create_time_id",
        "suggestion",
        ["state", sa.literal_column("create_time DESC"), sa.literal_column("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_suggestion_target_fingerprint", "suggestion", ["target", "fingerprint"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_suggestion_target_fingerprint", table_name="suggestion")
    op.drop_index("ix_suggestion_state_create_time_id", table_name="suggestion")
    op.drop_index("ix_suggestion_job_id_create_time_id", table_name="suggestion")
    op.drop_index("ix_suggestion_create_time_id", table_name="suggestion")
    op.drop_table("suggestion")
    op.drop_table("job_event")
    op.drop_index("ix_job_target_create_time_id", table_name="job")
    op.drop_index("ix_job_state_target_create_time_id", table_name="job")
    op.drop_index("ix_job_state_create_time_id", table_name="job")
    op.drop_index(
        "ix_job_lease_expire_time",
        table_name="job",
        postgresql_where=sa.text("state IN ('RUNNING', 'CANCELLING')"),
    )
    op.drop_index("ix_job_kind_create_time_id", table_name="job")
    op.drop_index(
        "ix_job_expire_time", table_name="job", postgresql_where=sa.text("expire_time IS NOT NULL")
    )
    op.drop_index("ix_job_create_time_id", table_name="job")
    op.drop_table("job")
