"""The shared PostgreSQL server of the tests, and databases of their own on it.

`SHARED_PG` is its maintenance database (PGSAGE_TEST_PG, else the local server on the default
port); tests never use it for data, only to create and drop databases of their own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import asyncpg

SHARED_PG = os.environ.get("PGSAGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def dsn_for(name: str) -> str:
    """The DSN of database `name` on the shared server."""
    return urlsplit(SHARED_PG)._replace(path=f"/{name}").geturl()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def admin(sql: str) -> None:
    """Runs one statement on the shared server's maintenance database."""
    conn = await asyncpg.connect(SHARED_PG)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(prefix: str, *setup: str, template: str | None = None) -> str:
    """Creates a database named `<prefix>_<random>` (a copy of `template` if given), runs the
    `setup` statements in it one after another; returns its name."""
    name = unique_name(prefix)
    copy = f' TEMPLATE "{template}"' if template else ""
    await admin(f'CREATE DATABASE "{name}"{copy}')
    if setup:
        try:
            conn = await asyncpg.connect(dsn_for(name))
            try:
                for statement in setup:
                    await conn.execute(statement)
            finally:
                await conn.close()
        except BaseException:
            await drop_database(name)
            raise
    return name


async def drop_database(name: str) -> None:
    """Drops database `name` if it exists, ending its sessions."""
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def database(prefix: str, *setup: str, template: str | None = None) -> AsyncIterator[str]:
    """A database of its own (see `create_database`) for the block; yields its name."""
    name = await create_database(prefix, *setup, template=template)
    try:
        yield name
    finally:
        await drop_database(name)
