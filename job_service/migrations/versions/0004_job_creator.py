"""Who asked for a job (`job.creator`), and on whose behalf a job's audit records were
written (`audit_record.on_behalf_of`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job", sa.Column("creator", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "audit_record", sa.Column("on_behalf_of", sa.Text(), nullable=False, server_default="")
    )


def downgrade() -> None:
    op.drop_column("audit_record", "on_behalf_of")
    op.drop_column("job", "creator")
