"""pgsage API tokens (`api_token`, stored as SHA-256 of the secret only), and who approved a
suggestion (`suggestion.approver_subject`, `suggestion.approver_name`: the two-person rule).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", UUID(as_uuid=True), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("role_bindings", JSONB(), nullable=False),
        sa.Column("secret_sha256", sa.LargeBinary(), nullable=False),
        sa.Column("creator", sa.Text(), nullable=False),
        sa.Column(
            "create_time",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoke_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_use_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_token"),
        sa.UniqueConstraint("secret_sha256", name="uq_api_token_secret_sha256"),
        sa.CheckConstraint("octet_length(secret_sha256) = 32", name="ck_api_token_sha256"),
    )
    op.create_index(
        "ix_api_token_create_time_id",
        "api_token",
        [sa.text("create_time DESC"), sa.text("id DESC")],
    )
    op.add_column("suggestion", sa.Column("approver_subject", sa.Text(), nullable=True))
    op.add_column("suggestion", sa.Column("approver_name", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("suggestion", "approver_name")
    op.drop_column("suggestion", "approver_subject")
    op.drop_index("ix_api_token_create_time_id", table_name="api_token")
    op.drop_table("api_token")
