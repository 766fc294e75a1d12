"""Caller-supplied SQL never reaches a target unless it is an allowed workload query.

A real target holds a `secrets` table, a sequence, a function that bumps it and an
"IMMUTABLE" function that lies and bumps it too; a real job service (dispatching) and
optimizer run against it. Every attack of issue 11 sent as ANALYZE `queries` is refused at
CreateJob (INVALID_ARGUMENT, QUERY_NOT_ALLOWED, the query named), no job is stored, the
sequence does not move, and no secret appears in a response, a stored row or a log line;
an ordinary query on the same target still gets analysed.
"""

from __future__ import annotations

import asyncio

import asyncpg
import grpc

from pgsage import errors as pgsage_errors
from pgsage import rpc
from pgsage.jobs.v1 import job_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support.dispatch import wait_finished

Job = job_pb2.Job
SECRET = "4111-1111-1111-1111"
SETUP = """
CREATE TABLE IF NOT EXISTS secrets (card text);
INSERT INTO secrets VALUES ('4111-1111-1111-1111');
CREATE SEQUENCE IF NOT EXISTS side_effects;
CREATE OR REPLACE FUNCTION bump() RETURNS bigint LANGUAGE sql VOLATILE
  AS $$ SELECT nextval('side_effects') $$;
CREATE OR REPLACE FUNCTION lying(x bigint) RETURNS bigint LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN PERFORM nextval('side_effects'); RETURN x; END $$;
"""
ATTACKS = [
    "SELECT * FROM invoice WHERE status = "
    "cast(query_to_xml('select * from secrets', true, true, '') AS text)::int",
    "SELECT * FROM invoice WHERE account_id = bump()",
    "SELECT * FROM invoice WHERE account_id = lying(42)",
    "SELECT pg_terminate_backend(pid) FROM invoice",
    "SELECT pg_sleep(5) FROM invoice",
    "SELECT current_setting('data_directory')",
    "SELECT * FROM dblink('dbname=postgres', 'select 1') AS t(a int)",
    "SELECT pg_read_file('PG_VERSION')",
    "SELECT * FROM pg_catalog.pg_authid",
    "SELECT * FROM invoice; SELECT * FROM secrets",
    "DO $$ BEGIN PERFORM bump(); END $$",
    "WITH gone AS (DELETE FROM invoice RETURNING *) SELECT count(*) FROM gone",
    "SELECT 'secrets'::regclass",
]


async def _sequence(target_dsn: str) -> tuple[int, bool]:
    conn = await asyncpg.connect(target_dsn)
    try:
        row = await conn.fetchrow("SELECT last_value, is_called FROM side_effects")
        return row["last_value"], row["is_called"]
    finally:
        await conn.close()


async def test_every_attack_is_refused_before_anything_runs(cluster):
    conn = await asyncpg.connect(cluster.target_dsn)
    try:
        await conn.execute(SETUP)
    finally:
        await conn.close()
    before = await _sequence(cluster.target_dsn)
    target = {"name": "shop", "dsn": cluster.target_dsn, "what_if_engine": "hypopg"}
    opt = cluster.optimizer(targets=[target]).start()
    await opt.wait_serving()
    js = cluster.job_service(opt).start()
    await js.wait_serving()
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        for attack in ATTACKS:
            ordinary = "SELECT * FROM invoice WHERE account_id = $1"
            request = job_service_pb2.CreateJobRequest(
                job=Job(target="shop", queries=[ordinary, attack])
            )
            try:
                await stub.CreateJob(request, timeout=10)
                raise AssertionError(f"accepted: {attack}")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, attack
                reason, meta = pgsage_errors.from_status(rpc.status_of(exc))
                assert reason == "QUERY_NOT_ALLOWED" and meta["field"] == "job.queries[1]"
                assert SECRET not in exc.details()
        listed = await stub.ListJobs(job_service_pb2.ListJobsRequest())
        assert list(listed.jobs) == []
        # The same target, an ordinary workload: analysed as before.
        ok = await stub.CreateJob(
            job_service_pb2.CreateJobRequest(
                job=Job(target="shop", queries=["SELECT * FROM invoice WHERE account_id = 42"])
            )
        )
        [done] = await wait_finished(js.address, [ok.name], limit=90)
        assert done.state == Job.SUCCEEDED, done
    assert await _sequence(cluster.target_dsn) == before
    store = await cluster.store_conn()
    try:
        rows = await store.fetch("SELECT to_jsonb(j)::text AS j FROM job j")
        events = await store.fetch("SELECT snapshot::text AS s FROM job_event")
    finally:
        await store.close()
    assert all(SECRET not in r["j"] for r in rows)
    assert all(SECRET not in r["s"] for r in events)
    for proc in cluster.procs:
        log = await asyncio.to_thread(proc.log_path.read_text, errors="replace")
        assert SECRET not in log, proc.name
