"""The dispatcher's retry backoff: a PENDING job is not claimed before `run_after`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job", sa.Column("run_after", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("job", "run_after")
