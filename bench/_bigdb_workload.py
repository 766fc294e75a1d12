"""The workload of bench/bigdb.py's target: about 2,400 distinct statements, run with
realistic parameters so pg_stat_statements records them the way an application leaves them.

Statements are sent the way a driver sends them (asyncpg: prepared, `$n` parameters bound),
so pg_stat_statements holds one entry per statement shape. Each shape is run a few times with
values drawn like the data (skewed users and devices, recent time ranges, existing and
missing keys), the hot ones more often; executions are interleaved at random over two
connections, as two application servers would.

- `events` (12 shapes): lookups by user, account and order that scan the table today (most of
  the workload's time), primary-key reads and writes, inserts, a join to `app_000`;
- `readings` (8 shapes): per-device ranges and latest values, a daily aggregate, writes;
- each application table `app_NNN` (12 shapes): primary-key and foreign-key lookups, status
  counts, recent rows, a join to the next table, an insert, an update and a delete.
"""

# ruff: noqa: S608 - the SQL is built from the benchmark's own fixed names and numbers

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from bench._bigdb_build import Scale

Params = Callable[[random.Random], tuple[Any, ...]]
EVENTS_START = datetime(2023, 1, 1, tzinfo=UTC)
EVENTS_DAYS = 730
READINGS_START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Params
    calls: int


def app(i: int) -> str:
    return f"app_{i:03d}"


def app_rows(scale: Scale, i: int) -> int:
    """Rows of application table `i` (spread over the scale's range, fixed per table)."""
    lo, hi = scale.table_rows
    return lo + (i * 7919) % (hi - lo + 1)


def _skewed(rng: random.Random, n: int, power: float) -> int:
    return 1 + int(rng.random() ** power * n)


def _moment(rng: random.Random, start: datetime, days: int, recent: float = 1.0) -> datetime:
    """A time in [start, start + days), drawn from its last `recent` share."""
    return start + timedelta(days=days * (1 - recent * rng.random()))


def _span(start: datetime, *, days: int) -> tuple[datetime, datetime]:
    return start, start + timedelta(days=days)


# Keys no row has (negative): inserts add them, deletes look for them.
_new_ids = itertools.count(1)


def _events(s: Scale) -> list[Statement]:
    def user(r: random.Random) -> int:
        return _skewed(r, s.users, 3)

    def account(r: random.Random) -> int:
        return _skewed(r, s.accounts, 2)

    def event(r: random.Random) -> int:
        return 1 + int(r.random() * s.events)

    def day(r: random.Random) -> tuple[datetime, datetime]:
        return _span(_moment(r, EVENTS_START, EVENTS_DAYS, 0.2), days=1)

    return [
        Statement(
            "SELECT * FROM events WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20",
            lambda r: (user(r),),
            3,
        ),
        Statement(
            "SELECT count(*) FROM events WHERE account_id = $1 AND created_at >= $2",
            lambda r: (account(r), _moment(r, EVENTS_START, EVENTS_DAYS, 0.1)),
            2,
        ),
        Statement(
            "SELECT id, amount FROM events WHERE order_id = $1",
            lambda r: (1 + int(r.random() * s.events / 3),),
            2,
        ),
        Statement("SELECT * FROM events WHERE id = $1", lambda r: (event(r),), 40),
        Statement(
            "UPDATE events SET status = $1 WHERE id = $2",
            lambda r: (r.randrange(1, 6), event(r)),
            20,
        ),
        Statement(
            "INSERT INTO events (user_id, account_id, kind, status, created_at, amount, note)"
            " VALUES ($1, $2, $3, 0, now(), $4, $5)",
            lambda r: (user(r), account(r), r.randrange(20), r.randrange(10000), "new"),
            20,
        ),
        Statement(
            "SELECT kind, count(*) FROM events WHERE created_at >= $1 AND created_at < $2"
            " GROUP BY kind",
            day,
            2,
        ),
        Statement(
            "SELECT sum(amount) FROM events WHERE user_id = $1 AND kind = $2",
            lambda r: (user(r), r.randrange(20)),
            2,
        ),
        Statement(
            "SELECT * FROM events WHERE account_id = $1 AND status = $2 ORDER BY id DESC LIMIT 50",
            lambda r: (account(r), r.randrange(1, 6)),
            1,
        ),
        Statement(
            "SELECT e.id, a.name FROM events e JOIN app_000 a ON a.id = e.account_id"
            " WHERE e.user_id = $1",
            lambda r: (user(r),),
            1,
        ),
        Statement("DELETE FROM events WHERE id = $1", lambda r: (-next(_new_ids),), 5),
        Statement(
            "SELECT count(*) FROM events WHERE status = $1 AND created_at > $2",
            lambda r: (r.randrange(1, 6), _moment(r, EVENTS_START, EVENTS_DAYS, 0.05)),
            1,
        ),
    ]


def _readings(s: Scale) -> list[Statement]:
    def device(r: random.Random) -> int:
        return _skewed(r, s.devices, 2)

    def week(r: random.Random) -> tuple[datetime, datetime]:
        return _span(_moment(r, READINGS_START, 358), days=7)

    return [
        Statement(
            "SELECT avg(value) FROM readings WHERE device_id = $1 AND taken_at >= $2"
            " AND taken_at < $3",
            lambda r: (device(r), *week(r)),
            4,
        ),
        Statement(
            "SELECT * FROM readings WHERE device_id = $1 ORDER BY taken_at DESC LIMIT 10",
            lambda r: (device(r),),
            3,
        ),
        Statement(
            "SELECT count(*) FROM readings WHERE status = $1 AND taken_at >= $2",
            lambda r: (r.randrange(1, 4), _moment(r, READINGS_START, 365, 0.1)),
            2,
        ),
        Statement(
            "INSERT INTO readings (id, device_id, taken_at, value, status)"
            " VALUES ($1, $2, $3, $4, 0)",
            lambda r: (-next(_new_ids), device(r), _moment(r, READINGS_START, 365), r.random()),
            10,
        ),
        Statement(
            "SELECT device_id, max(value) FROM readings WHERE taken_at >= $1 AND taken_at < $2"
            " GROUP BY device_id",
            lambda r: _span(_moment(r, READINGS_START, 364), days=1),
            2,
        ),
        Statement(
            "UPDATE readings SET status = $1 WHERE device_id = $2 AND taken_at = $3",
            lambda r: (1, device(r), _moment(r, READINGS_START, 365)),
            3,
        ),
        Statement(
            "SELECT * FROM readings WHERE id = $1",
            lambda r: (1 + int(r.random() * s.readings),),
            1,
        ),
        Statement(
            "DELETE FROM readings WHERE device_id = $1 AND taken_at < $2",
            lambda r: (device(r), READINGS_START - timedelta(days=1)),
            1,
        ),
    ]


def _apps(s: Scale, i: int) -> list[Statement]:
    t, p = app(i), app((i + 1) % s.tables)
    rows, parent = app_rows(s, i), app_rows(s, (i + 1) % s.tables)
    hot = 3 if i < 20 else 1  # the first tables are the application's busiest

    def row(r: random.Random) -> int:
        return 1 + int(r.random() ** 2 * rows)

    def since(r: random.Random) -> datetime:
        return _moment(r, EVENTS_START, EVENTS_DAYS, 0.05)

    return [
        Statement(f"SELECT * FROM {t} WHERE id = $1", lambda r: (row(r),), 4 * hot),
        Statement(
            f"SELECT * FROM {t} WHERE parent_id = $1",
            lambda r: (1 + int(r.random() * parent),),
            2 * hot,
        ),
        Statement(f"SELECT count(*) FROM {t} WHERE status = $1", lambda r: (r.randrange(8),), hot),
        Statement(
            f"SELECT id, name FROM {t} WHERE created_at >= $1 ORDER BY created_at LIMIT 20",
            lambda r: (since(r),),
            hot,
        ),
        Statement(
            f"SELECT id FROM {t} WHERE parent_id = $1 AND status = $2",
            lambda r: (1 + int(r.random() * parent), r.randrange(8)),
            2 * hot,
        ),
        Statement(f"UPDATE {t} SET score = score + 1 WHERE id = $1", lambda r: (row(r),), 3 * hot),
        Statement(
            f"INSERT INTO {t} (id, parent_id, status, created_at, name, score)"
            " VALUES ($1, $2, $3, now(), $4, 0)",
            lambda r: (-next(_new_ids), 1 + int(r.random() * parent), 0, "new"),
            hot,
        ),
        Statement(f"SELECT status, count(*) FROM {t} GROUP BY status", lambda r: (), hot),
        Statement(
            f"SELECT a.id, b.name FROM {t} a JOIN {p} b ON b.id = a.parent_id"
            " WHERE a.status = $1 LIMIT 50",
            lambda r: (r.randrange(1, 8),),
            hot,
        ),
        Statement(f"DELETE FROM {t} WHERE id = $1", lambda r: (-1 - int(r.random() * 1e6),), hot),
        Statement(
            f"SELECT * FROM {t} WHERE lower(name) = $1",
            lambda r: (f"name-{row(r)}",),
            hot,
        ),
        Statement(
            f"SELECT max(score) FROM {t} WHERE created_at BETWEEN $1 AND $2",
            lambda r: _span(since(r), days=30),
            hot,
        ),
    ]


def statements(scale: Scale) -> list[Statement]:
    """Every statement of the workload, each once."""
    apps = [st for i in range(scale.tables) for st in _apps(scale, i)]
    return _events(scale) + _readings(scale) + apps


async def run(dsn: str, scale: Scale, *, seed: int = 13, connections: int = 2) -> None:
    """Runs each statement its number of calls, interleaved at random over `connections`."""
    rng = random.Random(seed)
    calls = [st for st in statements(scale) for _ in range(st.calls)]
    rng.shuffle(calls)
    queue: asyncio.Queue[Statement] = asyncio.Queue()
    for st in calls:
        queue.put_nowait(st)

    async def worker(n: int) -> None:
        own = random.Random(seed + n)
        conn = await asyncpg.connect(
            dsn,
            command_timeout=None,
            statement_cache_size=4000,
            server_settings={"application_name": f"bigdb-app-{n}"},
        )
        try:
            while not queue.empty():
                st = queue.get_nowait()
                await conn.fetch(st.sql, *st.params(own))
        finally:
            await conn.close()

    await asyncio.gather(*(worker(n) for n in range(connections)))
