"""Fixtures of the dispatcher's tests (helpers live in `tests.support.dispatch`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from pgsage.embedded import EmbeddedPostgres
from tests.support import clusters, pg
from tests.support.dispatch import TARGET_SCHEMA, Cluster


@pytest.fixture(scope="module")
def store() -> Iterator[EmbeddedPostgres]:
    """The module's job-store cluster (tests stop and restart it); removed with the module."""
    with clusters.embedded_cluster("dispatch", "immediate") as postgres:
        yield postgres


@pytest.fixture(scope="module")
async def target_dsn() -> AsyncIterator[str]:
    async with pg.database("pgsage_dispatch_target", TARGET_SCHEMA) as name:
        yield pg.dsn_for(name)


@pytest.fixture
async def cluster(store, target_dsn, tmp_path) -> AsyncIterator[Cluster]:
    """A fresh job store database for each test, on the module's own cluster."""
    if not store.running():
        store.start()
    db = f"jobs_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(store.dsn())
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.close()
    c = Cluster(store=store, store_dsn=store.dsn(db), target_dsn=target_dsn, tmp=tmp_path)
    try:
        yield c
    finally:
        for proc in c.procs:
            proc.kill()
