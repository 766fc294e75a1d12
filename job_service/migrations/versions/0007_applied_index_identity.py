"""What pgsage's own APPLY did to a target's index, so a ROLLBACK undoes exactly that:
`suggestion.applied_index_oid` and `applied_index_definition` (the index an APPLY of a
create built: a rollback drops only the index with that OID and pg_get_indexdef) and
`dropped_index_definition` (the index an APPLY of a drop removed: its rollback recreates
exactly this definition).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("suggestion", sa.Column("applied_index_oid", sa.BigInteger(), nullable=True))
    op.add_column(
        "suggestion",
        sa.Column("applied_index_definition", sa.Text(), nullable=False, server_default=""),
    )
    op.add_column(
        "suggestion",
        sa.Column("dropped_index_definition", sa.Text(), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_column("suggestion", "dropped_index_definition")
    op.drop_column("suggestion", "applied_index_definition")
    op.drop_column("suggestion", "applied_index_oid")
