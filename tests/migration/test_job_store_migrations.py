"""The job store's Alembic migrations produce exactly the schema of `job_service.models`,
and downgrade → upgrade works."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from job_service import database, models, schema
from tests.support.pg import create_database, drop_database, dsn_for


async def _diff(db: database.Database) -> list:
    async with db.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), models.metadata
            )
        )


async def _tables(db: database.Database) -> set[str]:
    async with db.connection() as conn:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'"
        )
    return {r["tablename"] for r in rows}


async def test_upgrade_matches_the_models_and_downgrade_reverses_it():
    name = await create_database("pgsage_jobs_migr")
    db = database.Database(dsn_for(name))
    try:
        await schema.upgrade(db.engine)
        assert await _diff(db) == []
        assert await _tables(db) == {
            "api_token",
            "audit_record",
            "job",
            "job_event",
            "schedule",
            "snapshot_tick",
            "suggestion",
            "webhook",
            "webhook_attempt",
            "webhook_delivery",
            "webhook_event",
            "workload_snapshot",
            "workload_snapshot_statement",
        }
        # Constraints carry their conventional names (errors are translated by name).
        async with db.connection() as conn:
            names = {r["conname"] for r in await conn.fetch("SELECT conname FROM pg_constraint")}
        assert {
            "pk_job",
            "uq_job_request_id",
            "fk_suggestion_job_id_job",
            "uq_suggestion_job_id_fingerprint",
            "fk_job_event_job_id_job",
            "pk_job_event",
            "ck_job_state",
        } <= names

        await schema.downgrade(db.engine, "base")
        assert await _tables(db) == set()
        await schema.upgrade(db.engine)
        assert await _diff(db) == []
        # Upgrading an up-to-date schema is a no-op (every replica migrates at start-up).
        await schema.upgrade(db.engine)
        assert await _diff(db) == []
    finally:
        await db.close()
        await drop_database(name)
