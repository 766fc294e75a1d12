"""Fixtures of the verification tests: a target cluster of their own (embedded PostgreSQL with
pg_stat_statements preloaded: its statistics are reset by a test, so never the shared server's),
a job store on the shared server, a real optimizer and a real job service in this process.

Two target names point at the one database: `shop` (a regression is notified) and
`shop-strict` (a regression is rolled back). Their verification window is long: the tests
run each VERIFY job when they want it (on demand), except the one that checks the job an
APPLY schedules, on `shop-soon` (a window of a few seconds)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest

from pgsage.jobs.v1 import job_service_pb2_grpc
from tests.support import clusters
from tests.support import stack as pgsage_stack

SOON_SECONDS = 4


@dataclass
class Verifying:
    target_dsn: str
    store_dsn: str
    address: str
    stub: job_service_pb2_grpc.JobServiceStub
    optimizer_address: str = ""


@pytest.fixture(scope="module")
async def target_dsn() -> AsyncIterator[str]:
    async with clusters.own_cluster("verify") as postgres:
        import asyncpg

        admin = await asyncpg.connect(postgres.dsn())
        await admin.execute("CREATE DATABASE shop")
        await admin.close()
        conn = await asyncpg.connect(postgres.dsn("shop"))
        await conn.execute("CREATE EXTENSION pg_stat_statements")
        await conn.close()
        yield postgres.dsn("shop")


@pytest.fixture(scope="module")
async def verifying(target_dsn) -> AsyncIterator[Verifying]:
    def target(name: str, window: float, on_regression: str) -> dict:
        return {
            "name": name,
            "dsn": target_dsn,
            "what_if_engine": "transactional",
            "apply_allowed": True,
            "verification_window_seconds": window,
            "on_regression": on_regression,
        }

    targets = [
        target("shop", 3600, "notify"),
        target("shop-strict", 3600, "rollback"),
        target("shop-soon", SOON_SECONDS, "notify"),
    ]
    async with (
        pgsage_stack.job_store("pgsage_verify") as store,
        pgsage_stack.optimizer(targets) as optimizer,
        pgsage_stack.job_service(
            store,
            optimizer_address=optimizer.address,
            max_concurrent_jobs=4,
            poll_interval=timedelta(seconds=0.2),
            optimizer_timeout=timedelta(seconds=5),
        ) as service,
    ):
        address = f"127.0.0.1:{service.port}"
        async with grpc.aio.insecure_channel(address) as channel:
            yield Verifying(
                target_dsn,
                store,
                address,
                job_service_pb2_grpc.JobServiceStub(channel),
                optimizer.address,
            )
