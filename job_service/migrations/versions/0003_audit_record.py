"""The audit trail: suggestion state changes and statements run on targets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_record",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("authenticated", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("target", sa.Text(), server_default="", nullable=False),
        sa.Column("statement", sa.Text(), server_default="", nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("from_state", sa.Text(), server_default="", nullable=False),
        sa.Column("to_state", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_record")),
    )
    op.create_index(
        "ix_audit_record_time_id", "audit_record", [sa.text("time DESC"), sa.text("id DESC")]
    )
    op.create_index(
        "ix_audit_record_resource_time_id",
        "audit_record",
        ["resource", sa.text("time DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_audit_record_job_id_time_id",
        "audit_record",
        ["job_id", sa.text("time DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_audit_record_target_time_id",
        "audit_record",
        ["target", sa.text("time DESC"), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_table("audit_record")
