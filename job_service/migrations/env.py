"""Alembic environment of the job store.

Runs on a connection handed in by `job_service.schema` (`config.attributes["connection"]`),
so start-up migrates through the service's own engine. Without one (the `alembic` command
line, for writing a new revision), it connects to `sqlalchemy.url` from the config.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from job_service import models

config = context.config
target_metadata = models.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:

    async def _main() -> None:
        engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(_main())
