"""Fixtures of the dispatcher's tests (helpers live in `dispatch_harness`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from dispatch_harness import SHARED_PG, TARGET_SCHEMA, Cluster

from pgsage.embedded import EmbeddedPostgres


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(Path("/tmp") / f"pgsage-dispatch-{uuid.uuid4().hex[:8]}" / "data")
    pg.start()
    try:
        yield pg
    finally:
        pg.stop("immediate")


@pytest.fixture(scope="module")
async def target_dsn() -> AsyncIterator[str]:
    name = f"pgsage_dispatch_target_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(SHARED_PG)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = SHARED_PG.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(dsn)
    await conn.execute(TARGET_SCHEMA)
    await conn.close()
    try:
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


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
