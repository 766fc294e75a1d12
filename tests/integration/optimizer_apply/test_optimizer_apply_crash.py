"""An optimizer process killed mid-build (failpoint `optimizer_during_build`): the orphaned
build leaves an INVALID index, and the next Apply (a takeover) drops it and builds again."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import asyncpg
import grpc
from google.protobuf import duration_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pgsage.embedded import free_port
from pgsage.optimizer.v1 import advice_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support.apply import SUCCEEDED, collect, eventually, results, seeded_database, statements
from tests.support.pg import drop_database, dsn_for

SEED = """
CREATE TABLE items (id int PRIMARY KEY, owner int NOT NULL);
INSERT INTO items SELECT g, g % 500 FROM generate_series(1, 20000) g;
"""
SQL = "CREATE INDEX CONCURRENTLY pgsage_items_owner ON public.items (owner)"


async def index_state(conn: asyncpg.Connection) -> bool | None:
    return await conn.fetchval(
        "SELECT x.indisvalid FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid "
        "WHERE c.relname = 'pgsage_items_owner'"
    )


async def test_a_crash_mid_build_is_cleaned_up_by_the_next_apply(tmp_path, started_optimizer):
    database = await seeded_database("crash", SEED)
    target = {"name": "live", "dsn": dsn_for(database), "apply_allowed": True}
    hits = tmp_path / "failpoints.log"
    port = free_port()
    env = {
        **os.environ,
        "PGSAGE_OPTIMIZER_GRPC_HOST": "127.0.0.1",
        "PGSAGE_OPTIMIZER_GRPC_PORT": str(port),
        "PGSAGE_OPTIMIZER_TARGETS": json.dumps([target]),
        "PGSAGE_FAILPOINTS": "optimizer_during_build=kill",
        "PGSAGE_FAILPOINTS_LOG": str(hits),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "optimizer_service", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    blocker = await asyncpg.connect(dsn_for(database))
    observer = await asyncpg.connect(dsn_for(database))
    try:
        # a writer's open transaction holds the build after its catalog entry is made
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("INSERT INTO items VALUES (100001, 1)")
        lock_timeout = duration_pb2.Duration()
        lock_timeout.FromMilliseconds(1500)
        request = pb.ApplyRequest(
            target="live",
            kind=advice_pb2.ADVICE_KIND_CREATE_INDEX,
            sql=SQL,
            lock_timeout=lock_timeout,
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.OptimizerServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            await health.Check(health_pb2.HealthCheckRequest(), wait_for_ready=True, timeout=30)
            _, error = await collect(stub.Apply(request, timeout=30))
            assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
        await asyncio.wait_for(proc.wait(), timeout=30)
        assert hits.read_text().split()[0] == "optimizer_during_build"

        async def orphan_gone() -> bool:
            return (
                await observer.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'pgsage-optimizer' AND datname = current_database()"
                )
                == 0
            )

        await eventually(orphan_gone, "the orphaned build gave up on its lock_timeout")
        assert await index_state(observer) is False  # left INVALID by the crash
        await tx.rollback()

        stub = await started_optimizer([target])
        events, error = await collect(stub.Apply(request))
        assert error is None, error
        done = statements(events, SUCCEEDED)
        drop = "DROP INDEX CONCURRENTLY IF EXISTS public.pgsage_items_owner"
        assert done.index(drop) < done.index(SQL)
        [result] = results(events, pb.ChangeResult)
        assert result.index_exists and result.index_valid and not result.already_in_place
        assert await index_state(observer) is True
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await blocker.close()
        await observer.close()
        await drop_database(database)
