"""Migrating the job store at start-up, programmatically (no alembic.ini needed).

`upgrade` runs every pending Alembic revision in one transaction under an advisory lock,
so replicas starting together migrate once and the others wait, then find nothing to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key: "pgsage-jobs-migrate" folded into a bigint.
_LOCK_KEY = 0x7067_7361_6765_6A6D


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the job store's migrations, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Brings the database's schema to `revision` (the newest by default)."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
    log.info("job store schema is at %s", revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Takes the schema back to `revision` (`base` removes every table)."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
