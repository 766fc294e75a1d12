"""The audit trail is hash-chained: concurrent writers never fork it, and VerifyAuditTrail
names the first record that was altered, removed or inserted behind pgsage's back.

Each test gets a database of its own (tampering is the point), copied from the migrated
template, and a real job service on port 0.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest

from job_service import app, audit, auditchain, database, schema
from pgsage.jobs.v1 import access_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support.pg import create_database, drop_database, dsn_for


@dataclass
class Trail:
    db: database.Database
    stub: job_service_pb2_grpc.JobServiceStub

    async def write(self, n: int, **fields: object) -> list[uuid.UUID]:
        ids = []
        for i in range(n):
            entry = _entry(i, **fields)
            async with self.db.connection() as conn:
                await audit.record(conn, entry)
            ids.append(entry.id)
        return ids

    async def verify(self) -> access_pb2.VerifyAuditTrailResponse:
        return await self.stub.VerifyAuditTrail(access_pb2.VerifyAuditTrailRequest(), timeout=30)

    async def sql(self, statement: str, *args: object) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(statement, *args)

    async def row(self, record_id: uuid.UUID) -> asyncpg.Record:
        async with self.db.connection() as conn:
            return await conn.fetchrow("SELECT * FROM audit_record WHERE id = $1", record_id)


def _entry(i: int, **fields: object) -> audit.Entry:
    values: dict[str, object] = {
        "actor": "Ada Lovelace",
        "actor_subject": "apiTokens/5e1b",
        "actor_method": "API_TOKEN",
        "authenticated": True,
        "action": "statement.execute",
        "resource": f"jobs/{uuid.uuid4()}/suggestions/{uuid.uuid4()}",
        "job_id": uuid.uuid4() if i % 2 else None,
        "target": "prod-eu",
        "statement": "CREATE INDEX CONCURRENTLY ix ON t (a)",
        "outcome": "SUCCEEDED",
        "detail": f"attempt {i}: ünïcode, quotes ' \" and a | pipe",
        "from_state": "APPROVED",
        "to_state": "APPLYING",
        "on_behalf_of": "grace",
    }
    values.update(fields)
    return audit.Entry(**values)  # type: ignore[arg-type]


@pytest.fixture
async def trail(template_db: str, settings_for) -> AsyncIterator[Trail]:
    name = await create_database("pgsage_jobs_chain", template=template_db)
    db = database.Database(dsn_for(name), pool_size=8)
    running = await app.start(settings_for(dsn_for(name)))
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            yield Trail(db, job_service_pb2_grpc.JobServiceStub(channel))
    finally:
        await running.stop(0.5)
        await db.close()
        await drop_database(name)


async def test_concurrent_writers_make_one_unbroken_chain(trail: Trail):
    async def alone(i: int) -> None:
        async with trail.db.connection() as conn:
            await audit.record(conn, _entry(i))

    async def with_a_change(i: int) -> None:
        # Two records in one transaction that stays open a moment after them, as a
        # handler's does: every other writer must wait, not fork the chain.
        async with trail.db.transaction() as conn:
            await audit.record(conn, _entry(i))
            await audit.record(conn, _entry(i + 1))
            await conn.execute("SELECT pg_sleep(0.01)")

    await asyncio.gather(
        *(alone(i) if i % 2 else with_a_change(i) for i in range(50)),
    )
    total = 25 + 25 * 2
    async with trail.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT chain_position, prev_digest, digest FROM audit_record ORDER BY chain_position"
        )
    assert [r["chain_position"] for r in rows] == list(range(1, total + 1))
    assert [r["prev_digest"] for r in rows] == [""] + [r["digest"] for r in rows[:-1]]
    result = await trail.verify()
    assert (result.intact, result.records_checked) == (True, total), result.message
    # Walked in small batches, the same chain verifies across every batch boundary.
    small = await auditchain.verify(trail.db, batch=7)
    assert (small.intact, small.records_checked) == (True, total)


async def test_an_intact_trail_verifies_and_records_carry_the_actor_and_digest(trail: Trail):
    ids = await trail.write(12)
    result = await trail.verify()
    assert result.intact is True and result.records_checked == 12
    assert result.first_bad_record == "" and result.problem == ""
    newest = await trail.row(ids[-1])
    assert newest["digest"] in result.message  # the head, to keep somewhere else
    listed = await trail.stub.ListAuditRecords(job_service_pb2.ListAuditRecordsRequest(page_size=1))
    [record] = listed.audit_records
    assert record.name == f"auditRecords/{ids[-1]}"
    assert record.actor_subject == "apiTokens/5e1b"
    assert record.actor_auth_method == access_pb2.API_TOKEN
    assert record.digest == newest["digest"] and len(record.digest) == 64


async def test_an_empty_trail_is_intact(trail: Trail):
    result = await trail.verify()
    assert (result.intact, result.records_checked) == (True, 0)


async def test_a_record_whose_detail_was_changed_is_named_altered(trail: Trail):
    ids = await trail.write(10)
    await trail.sql("UPDATE audit_record SET detail = 'nothing to see' WHERE id = $1", ids[4])
    result = await trail.verify()
    assert result.intact is False
    assert (result.problem, result.first_bad_record) == ("ALTERED", f"auditRecords/{ids[4]}")
    assert result.records_checked == 5
    assert "changed" in result.message


async def test_a_record_whose_actor_was_changed_is_named_altered(trail: Trail):
    ids = await trail.write(6)
    await trail.sql("UPDATE audit_record SET actor_subject = 'someone-else' WHERE id = $1", ids[2])
    result = await trail.verify()
    assert (result.problem, result.first_bad_record) == ("ALTERED", f"auditRecords/{ids[2]}")


async def test_a_deleted_record_is_reported_removed_naming_the_record_after_the_gap(
    trail: Trail,
):
    ids = await trail.write(10)
    await trail.sql("DELETE FROM audit_record WHERE id = $1", ids[4])
    result = await trail.verify()
    assert (result.intact, result.problem) == (False, "REMOVED")
    assert result.first_bad_record == f"auditRecords/{ids[5]}"
    assert "position 5" in result.message


async def test_a_deleted_record_hidden_by_renumbering_is_still_removed(trail: Trail):
    ids = await trail.write(8)
    await trail.sql("DELETE FROM audit_record WHERE id = $1", ids[3])
    async with trail.db.transaction() as conn:
        await _shift(conn, 5, -1)
    result = await trail.verify()
    assert (result.problem, result.first_bad_record) == ("REMOVED", f"auditRecords/{ids[4]}")


async def test_the_first_record_deleted_is_removed(trail: Trail):
    ids = await trail.write(3)
    await trail.sql("DELETE FROM audit_record WHERE id = $1", ids[0])
    result = await trail.verify()
    assert (result.problem, result.first_bad_record) == ("REMOVED", f"auditRecords/{ids[1]}")


async def _shift(conn: asyncpg.Connection, start: int, by: int) -> None:
    """Moves positions from `start` on by `by` (through negatives: the position is unique)."""
    await conn.execute(
        "UPDATE audit_record SET chain_position = -(chain_position + $2) "
        "WHERE chain_position >= $1",
        start,
        by,
    )
    await conn.execute(
        "UPDATE audit_record SET chain_position = -chain_position WHERE chain_position < 0"
    )


async def _forge(trail: Trail, position: int, prev_digest: str) -> uuid.UUID:
    """Writes a record past the trigger, with a digest computed exactly as pgsage would."""
    entry = _entry(99, actor="pgsage", detail="index dropped by the scheduled maintenance")
    row = {
        **{k: getattr(entry, k) for k in entry.__dataclass_fields__ if k != "digest"},
        "time": datetime.now(UTC) - timedelta(hours=1),
        "prev_digest": prev_digest,
    }
    digest = auditchain.digest_of(row)
    async with trail.db.transaction() as conn:
        await conn.execute("ALTER TABLE audit_record DISABLE TRIGGER audit_record_append")
        await _shift(conn, position, +1)
        await conn.execute(
            "INSERT INTO audit_record (id, time, actor, actor_subject, actor_method, "
            "authenticated, action, resource, job_id, target, statement, outcome, detail, "
            "from_state, to_state, on_behalf_of, chain_position, prev_digest, digest) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
            "$19)",
            *(row[k] for k in ("id", "time", "actor", "actor_subject", "actor_method")),
            *(row[k] for k in ("authenticated", "action", "resource", "job_id", "target")),
            *(row[k] for k in ("statement", "outcome", "detail", "from_state", "to_state")),
            row["on_behalf_of"],
            position,
            prev_digest,
            digest,
        )
        await conn.execute("ALTER TABLE audit_record ENABLE TRIGGER audit_record_append")
    return entry.id


async def test_a_forged_record_slipped_into_the_middle_is_named_inserted(trail: Trail):
    ids = await trail.write(8)
    third = await trail.row(ids[2])
    # It links to the third record and its own digest is right; the positions after it
    # were shifted to make room.
    forged = await _forge(trail, 4, third["digest"])
    result = await trail.verify()
    assert (result.intact, result.problem) == (False, "INSERTED")
    assert result.first_bad_record == f"auditRecords/{forged}"


async def test_a_forged_record_appended_off_the_chain_is_named_inserted(trail: Trail):
    ids = await trail.write(6)
    second = await trail.row(ids[1])
    forged = await _forge(trail, 7, second["digest"])
    result = await trail.verify()
    assert (result.problem, result.first_bad_record) == ("INSERTED", f"auditRecords/{forged}")


async def test_supplied_chain_values_are_overwritten_by_the_trigger(trail: Trail):
    await trail.write(2)
    async with trail.db.connection() as conn:
        await conn.execute(
            "INSERT INTO audit_record (id, actor, action, resource, outcome, chain_position, "
            "prev_digest, digest) VALUES ($1, 'mallory', 'x', 'y', 'OK', 1, '', 'f00')",
            uuid.uuid4(),
        )
        row = await conn.fetchrow(
            "SELECT chain_position, digest FROM audit_record WHERE actor = 'mallory'"
        )
    assert row["chain_position"] == 3 and row["digest"] != "f00"
    assert (await trail.verify()).intact is True


async def test_records_written_before_the_chain_are_chained_in_time_order(template_db: str):
    name = await create_database("pgsage_jobs_chain")
    db = database.Database(dsn_for(name), pool_size=2)
    try:
        await schema.upgrade(db.engine, "0004")
        base = datetime(2026, 11, 1, tzinfo=UTC)
        order = [3, 0, 4, 1, 2]  # written out of time order
        ids = {i: uuid.uuid4() for i in order}
        async with db.connection() as conn:
            for i in order:
                await conn.execute(
                    "INSERT INTO audit_record (id, time, actor, action, resource, outcome, "
                    "detail) VALUES ($1, $2, 'alice', 'suggestion.approve', 'jobs/x', 'OK', $3)",
                    ids[i],
                    base + timedelta(minutes=i),
                    f"old record {i}",
                )
        await schema.upgrade(db.engine)
        async with db.connection() as conn:
            rows = await conn.fetch("SELECT id FROM audit_record ORDER BY chain_position")
            await audit.record(conn, _entry(0))
        assert [r["id"] for r in rows] == [ids[i] for i in range(5)]
        result = await auditchain.verify(db)
        assert (result.intact, result.records_checked) == (True, 6), result.message
    finally:
        await db.close()
        await drop_database(name)


async def test_a_record_altered_and_rehashed_breaks_the_link_to_the_next(trail: Trail):
    ids = await trail.write(6)
    row = dict(await trail.row(ids[2]))
    row["detail"] = "approved by the change board"
    await trail.sql(
        "UPDATE audit_record SET detail = $2, digest = $3 WHERE id = $1",
        ids[2],
        row["detail"],
        auditchain.digest_of(row),
    )
    result = await trail.verify()
    # Its own digest matches now, but the record after it was chained to the original: the
    # one named is that next record, whose predecessor is not the one it was chained to.
    assert (result.problem, result.first_bad_record) == ("REMOVED", f"auditRecords/{ids[3]}")
    assert f"auditRecords/{ids[2]}, before it, is not that record" in result.message


async def test_a_writer_with_an_old_snapshot_is_refused_rather_than_forking(trail: Trail):
    await trail.write(1)
    async with trail.db.connection() as stale:
        async with stale.transaction(isolation="repeatable_read"):
            await stale.fetchval("SELECT count(*) FROM audit_record")  # the snapshot
            await trail.write(1)  # appended after it, by another writer
            with pytest.raises(asyncpg.UniqueViolationError):
                await audit.record(stale, _entry(0))
    result = await trail.verify()
    assert (result.intact, result.records_checked) == (True, 2)
