"""patch.sql is safe to run: hostile names through the real gateway and real psql.

The suggestions hold what the optimizer generates for tables whose names try to break out
of a quoted identifier or a comment (a newline and `DROP TABLE`, quotes, semicolons,
backslashes, U+2028 and U+0085, a `\\!` psql meta-command at the start of a line, a `:"USER"`
psql variable); titles and rationales carry the same. The file from
`GET /v1/jobs/{job}/patch.sql` runs under `psql -X -v ON_ERROR_STOP=1` on a scratch database,
and the catalog and pg_stat_statements show the approved statements ran and nothing else.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from optimizer_service import sqltext
from optimizer_service.model import IndexDef, Table
from tests.support import pg

ODD_COLUMN = "x\\!y"
PWNED = Path(f"/tmp/pgsage_pw_{uuid.uuid4().hex[:8]}")  # short: names are 63 bytes

HOSTILE_TABLES = [
    "t\nDROP TABLE side_log; --",
    'q"uote;semi\\',
    "u\u2028DROP TABLE side_log;\u0085x",
    f"m\n\\! touch {PWNED}\n",
    f"t\r\\! touch {PWNED}\rDROP TABLE side_log; --",
]


@pytest.fixture
async def scratch() -> AsyncIterator[str]:
    async with pg.database("pgsage_patch") as name:
        yield name


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def test_hostile_names_run_as_exactly_the_approved_statements(
    http, create_job, seed, scratch
):
    conn = await asyncpg.connect(pg.dsn_for(scratch))
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await conn.execute("CREATE TABLE side_log (id int)")
        for table in HOSTILE_TABLES:
            await conn.execute(
                f"CREATE TABLE public.{_quote(table)} (c int, {_quote(ODD_COLUMN)} int)"
            )
        await conn.execute('CREATE TABLE public.s (arr int[], "USER" int)')
    finally:
        await conn.close()

    job = await create_job()
    expected: set[str] = set()
    names = []
    for table in HOSTILE_TABLES:
        index = IndexDef(Table("public", table), ("c", ODD_COLUMN))
        expected.add(sqltext.index_name(index))
        names.append(
            await seed(
                job["name"],
                sql=sqltext.create_sql(index),
                rollback_sql=sqltext.drop_sql("public", sqltext.index_name(index)),
                title=f"Index on public.{table} (c)",
                rationale=f"Reads of {table} */ filter on c.\r\\! touch {PWNED}\u2028DROP x;",
            )
        )
    # A reviewer's expression with an array slice: `[1:"USER"]` must not become psql's
    # variable `:"USER"`.
    names.append(
        await seed(
            job["name"],
            sql='CREATE INDEX CONCURRENTLY s_slice_idx ON public.s (((arr)[1:"USER"]))',
            rollback_sql="DROP INDEX CONCURRENTLY IF EXISTS public.s_slice_idx",
            title="Index on public.s",
        )
    )
    expected.add("s_slice_idx")
    for name in names:
        response = await http.post(f"/v1/{name}:approve", json={})
        assert response.status_code == 200, response.text

    response = await http.get(f"/v1/{job['name']}/patch.sql")
    assert response.status_code == 200
    script = response.text

    conn = await asyncpg.connect(pg.dsn_for(scratch))
    try:
        await conn.execute(
            "SELECT pg_stat_statements_reset(0, "
            "(SELECT oid FROM pg_database WHERE datname = current_database()), 0)"
        )
    finally:
        await conn.close()
    path = Path(f"/tmp/pgsage_patch_{uuid.uuid4().hex[:8]}.sql")
    await asyncio.to_thread(path.write_text, script, encoding="utf-8")
    try:
        proc = await asyncio.create_subprocess_exec(
            "psql",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            pg.dsn_for(scratch),
            "-f",
            str(path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    finally:
        await asyncio.to_thread(path.unlink)
    assert proc.returncode == 0, (out.decode(), err.decode())
    assert not await asyncio.to_thread(PWNED.exists)

    conn = await asyncpg.connect(pg.dsn_for(scratch))
    try:
        # First, before this connection's own statements are counted too.
        ran = [
            r["query"]
            for r in await conn.fetch(
                "SELECT query FROM pg_stat_statements "
                "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND query NOT LIKE '%pg_stat_statements%'"
            )
        ]
        assert await conn.fetchval("SELECT to_regclass('public.side_log') IS NOT NULL")
        tables = {
            r["relname"]
            for r in await conn.fetch(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind = 'r'"
            )
        }
        assert tables == {"side_log", "s", *HOSTILE_TABLES}
        indexes = {
            r["indexname"]
            for r in await conn.fetch(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
            )
        }
        assert indexes == expected
    finally:
        await conn.close()
    assert len(ran) == len(expected), ran
    assert all(q.startswith("CREATE INDEX CONCURRENTLY") for q in ran), ran
    # And the file reads as it runs: comments and one-line statements, nothing hidden.
    for line in script.split("\n"):
        assert line == "" or line.startswith("-- ") or line == "--" or line.startswith("CREATE ")
        assert all(c == " " or c.isprintable() for c in line), repr(line)
    assert "NOT WRITTEN" not in script
