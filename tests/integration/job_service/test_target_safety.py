"""Target safety at the job service: caller SQL refused at CreateJob, one change at a time.

Over real gRPC against a real job store: attack queries never become a job; twenty
concurrent APPLY requests for one suggestion create exactly one job (the database's
`uq_job_suggestion_id_live` decides, the error names the winner); a twin already applied
blocks another; idempotency still comes first; migration 0008 settles old duplicates.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import grpc
import pytest
from google.rpc import status_pb2

from job_service import app, changes, database, errors, schema, suggestions
from pgsage import errors as pgsage_errors
from pgsage import rpc
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support.pg import create_database, drop_database, dsn_for

Job = job_pb2.Job


ATTACKS = [
    "SELECT id FROM orders WHERE id = "
    "cast(query_to_xml('select * from secrets', true, true, '') AS text)::int",
    "SELECT pg_terminate_backend(pid) FROM orders",
    "SELECT pg_sleep(30)",
    "SELECT current_setting('data_directory')",
    "SELECT * FROM dblink('host=elsewhere', 'select 1') AS t(a int)",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT rolpassword FROM pg_authid",
    "SELECT 1; SELECT 2",
    "DO $$ BEGIN PERFORM pg_sleep(1); END $$",
    "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
    "SELECT bump_sequence()",
    "SELECT 'secrets'::regclass",
]


async def _job_count(db: database.Database) -> int:
    async with db.connection() as conn:
        return await conn.fetchval("SELECT count(*) FROM job")


@pytest.mark.parametrize("attack", ATTACKS)
async def test_attack_queries_are_refused_at_create_job_and_store_nothing(
    stub, db, expect_error, attack
):
    before = await _job_count(db)
    ok = "SELECT * FROM orders WHERE customer_id = $1"
    call = stub.CreateJob(
        job_service_pb2.CreateJobRequest(job=Job(target="demo", queries=[ok, attack]))
    )
    meta = await expect_error(call, grpc.StatusCode.INVALID_ARGUMENT, "QUERY_NOT_ALLOWED")
    assert meta["field"] == "job.queries[1]"
    assert meta["rule"]
    assert await _job_count(db) == before


async def test_ordinary_workload_queries_make_a_job(stub):
    queries = [
        "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.created_at > now() - interval '1 day' ORDER BY o.id DESC LIMIT 20",
        "SELECT customer_id, sum(total) OVER (PARTITION BY customer_id) FROM orders",
        "INSERT INTO orders (customer_id, total) VALUES ($1, $2)",
        "UPDATE orders SET status = 'paid' WHERE id = $1",
        "DELETE FROM orders WHERE id IN (1, 2, 3)",
    ]
    job = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(job=Job(target="demo", queries=queries))
    )
    assert list(job.queries) == queries


async def _approved(stub, create, seed, **fields) -> str:
    parent = await create("demo")
    s = await seed(parent.name, **fields)
    name = f"{parent.name}/suggestions/{s.id}"
    await stub.ApproveSuggestion(job_service_pb2.ApproveSuggestionRequest(name=name))
    return name


def _apply(name: str, request_id: str = "", kind: int = Job.APPLY):
    return job_service_pb2.CreateJobRequest(
        job=Job(target="demo", kind=kind, suggestion=name), request_id=request_id
    )


async def _waiting_on_locks(db: database.Database) -> int:
    async with db.connection() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'pgsage-jobs' AND wait_event_type = 'Lock'"
        )


async def test_twenty_concurrent_applies_create_exactly_one_job(
    module_db, settings_for, stub, create, seed, db, eventually
):
    name = await _approved(stub, create, seed)
    # A replica with room for twenty transactions at once.
    running = await app.start(settings_for(module_db, pool_size=25))
    blocker = await asyncpg.connect(module_db)
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            racer = job_service_pb2_grpc.JobServiceStub(channel)
            # Every CreateJob is held inside its transaction (its audit row waits for this
            # lock) until all twenty are: they all passed the checks before any committed,
            # so only the database can tell them apart.
            held = blocker.transaction()
            await held.start()
            await blocker.execute("LOCK TABLE audit_record IN EXCLUSIVE MODE")
            calls = [
                asyncio.ensure_future(
                    racer.CreateJob(_apply(name, f"race-{uuid.uuid4()}"), timeout=60)
                )
                for _ in range(20)
            ]

            async def all_held() -> bool:
                return await _waiting_on_locks(db) >= 20

            await eventually(all_held)
            await held.rollback()
            results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await blocker.close()
        await running.stop(0.5)
    made = [r for r in results if isinstance(r, job_pb2.Job)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(made) == 1 and len(refused) == 19, results
    winner = made[0].name
    for error in refused:
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, error.details()
        reason, meta = pgsage_errors.from_status(rpc.status_of(error))
        assert reason == "INVALID_STATE_TRANSITION"
        assert meta["job"] == winner
        assert winner in error.details()
    async with db.connection() as conn:
        live = await conn.fetchval(
            "SELECT count(*) FROM job WHERE suggestion_id = $1::uuid",
            name.rsplit("/", 1)[1],
        )
    assert live == 1


async def test_twenty_concurrent_retries_of_one_request_all_get_its_one_job(
    module_db, settings_for, stub, create, seed, db, eventually
):
    name = await _approved(stub, create, seed)
    running = await app.start(settings_for(module_db, pool_size=25))
    blocker = await asyncpg.connect(module_db)
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            racer = job_service_pb2_grpc.JobServiceStub(channel)
            held = blocker.transaction()
            await held.start()
            await blocker.execute("LOCK TABLE audit_record IN EXCLUSIVE MODE")
            request = _apply(name, f"retry-{uuid.uuid4()}")
            calls = [asyncio.ensure_future(racer.CreateJob(request, timeout=60)) for _ in range(20)]

            async def all_held() -> bool:
                return await _waiting_on_locks(db) >= 20

            await eventually(all_held)
            await held.rollback()
            results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await blocker.close()
        await running.stop(0.5)
    assert all(isinstance(r, job_pb2.Job) for r in results), results
    assert len({r.name for r in results}) == 1


async def test_a_retried_request_gets_its_job_back_even_after_the_suggestion_moved(
    stub, create, seed, db
):
    name = await _approved(stub, create, seed)
    first = await stub.CreateJob(_apply(name, "apply-once"))
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE suggestion SET state = 'APPLYING' WHERE id = $1::uuid", name.rsplit("/", 1)[1]
        )
    again = await stub.CreateJob(_apply(name, "apply-once"))
    assert again.name == first.name


async def test_a_benchmark_waits_for_a_live_apply_and_a_retry_cannot_make_a_second(
    stub, create, seed, finish, expect_error
):
    name = await _approved(stub, create, seed)
    first = await stub.CreateJob(_apply(name))
    meta = await expect_error(
        stub.CreateJob(_apply(name, kind=Job.BENCHMARK)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )
    assert meta["job"] == first.name
    # The first one fails; a second APPLY starts; retrying the first would make two live.
    await finish(first.name, "FAILED")
    second = await stub.CreateJob(_apply(name))
    meta = await expect_error(
        stub.RetryJob(job_service_pb2.RetryJobRequest(name=first.name)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )
    assert meta["job"] == second.name
    assert meta["constraint"] == "uq_job_suggestion_id_live"


async def test_two_suggestions_with_one_fingerprint_are_never_both_applied(
    stub, create, seed, db, expect_error
):
    fingerprint = uuid.uuid4().hex
    applied = await _approved(stub, create, seed, fingerprint=fingerprint)
    twin = await _approved(stub, create, seed, fingerprint=fingerprint)
    apply_job = await stub.CreateJob(_apply(applied))
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE suggestion SET state = 'APPLIED' WHERE id = $1::uuid",
            applied.rsplit("/", 1)[1],
        )
    # CreateJob explains it early...
    meta = await expect_error(
        stub.CreateJob(_apply(twin)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )
    assert meta["twin"] == applied and meta["job"] == apply_job.name
    # ...and the database refuses the move itself, whoever tries it (a job created before
    # the twin was applied reaches `begin` later).
    async with db.connection() as conn:
        job_id, s_id = twin.split("/")[1], twin.split("/")[3]
        row = await conn.fetchrow(
            "SELECT * FROM suggestion WHERE id = $1::uuid AND job_id = $2::uuid", s_id, job_id
        )
    current = suggestions.from_row(row)
    with pytest.raises(errors.ChangeAlreadyApplied) as caught:
        async with db.transaction() as conn:
            await changes.move(
                conn, current, "APPLYING", ("APPROVED",), actor="t", action="t", job_id=uuid.uuid4()
            )
    assert caught.value.metadata["twin"] == applied
    assert caught.value.metadata["job"] == apply_job.name


async def test_migration_0008_settles_old_duplicates_before_enforcing():
    name = await create_database("pgsage_jobs_0008")
    db = database.Database(dsn_for(name), pool_size=1)
    try:
        await schema.upgrade(db.engine, "0004")
        parent, other, s1, s2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        running, pending = uuid.uuid4(), uuid.uuid4()
        conn = await asyncpg.connect(dsn_for(name))
        try:
            for analysis in (parent, other):
                await conn.execute(
                    "INSERT INTO job (id, kind, state, target) "
                    "VALUES ($1, 'ANALYZE', 'SUCCEEDED', 't')",
                    analysis,
                )
            # Two analyses suggested the same change; both got applied (the old race).
            for s, analysis in ((s1, parent), (s2, other)):
                await conn.execute(
                    "INSERT INTO suggestion (id, job_id, kind, state, target, fingerprint, sql) "
                    "VALUES ($1, $2, 'CREATE_INDEX', 'APPLIED', 't', 'same', 'x')",
                    s,
                    analysis,
                )
            # Two rollbacks of one suggestion are live at once.
            for job_id, state in ((pending, "PENDING"), (running, "RUNNING")):
                await conn.execute(
                    "INSERT INTO job (id, kind, state, target, suggestion_job_id, suggestion_id) "
                    "VALUES ($1, 'ROLLBACK', $2, 't', $3, $4)",
                    job_id,
                    state,
                    parent,
                    s1,
                )
        finally:
            await conn.close()
        await schema.upgrade(db.engine)
        async with db.connection() as c:
            jobs = {r["id"]: r for r in await c.fetch("SELECT * FROM job WHERE kind = 'ROLLBACK'")}
            states = {
                r["id"]: r["state"] for r in await c.fetch("SELECT id, state FROM suggestion")
            }
            events = await c.fetchval("SELECT count(*) FROM job_event WHERE job_id = $1", pending)
        assert jobs[running]["state"] == "RUNNING"
        assert jobs[pending]["state"] == "FAILED"
        reason, _ = pgsage_errors.from_status(status_pb2.Status.FromString(jobs[pending]["error"]))
        assert reason == "DUPLICATE_CHANGE_JOB"
        assert f"jobs/{running}" in jobs[pending]["progress_message"]
        assert events == 1
        assert sorted(states.values()) == ["APPLIED", "APPLY_FAILED"]
    finally:
        await db.close()
        await drop_database(name)
