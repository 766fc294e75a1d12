"""The production-size target of bench/bigdb.py: its cluster, its data, its workload.

The target is a PostgreSQL cluster of the benchmark's own (initdb in a directory, never the
shared server), made with the system's binaries that have HypoPG (the tests' choice,
`tests.support.testserver.binaries`), pg_stat_statements preloaded. Its database `bigdb`
holds, at the default scale:

- `events`: 20 million rows (about 1.5 GiB), append-only in `created_at`, skewed users and
  accounts, a primary key and an index on `created_at`;
- `readings`: a table partitioned by month (12 partitions of 2024), 4 million rows, no index;
- 198 application tables `app_000` … `app_197` of 2,000 to 60,000 rows, each with a primary
  key, some with an index on `status`;
- a workload of about 2,400 distinct statements recorded in pg_stat_statements
  (`bench._bigdb_workload`), after a reset, so it holds nothing else.

The settings are a production server's in miniature (shared_buffers 512 MB,
maintenance_work_mem 256 MB, a large max_wal_size) except durability: fsync is off, as in
the tests, since nothing here must survive a crash of the machine. A build records what it
made in `build.json` beside the cluster, so `--data-dir` can reuse it in a later run.
"""

# ruff: noqa: S608 - the SQL is built from the benchmark's own fixed names and numbers

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg

from bench import _bigdb_workload as workload
from pgsage.embedded import EmbeddedPostgres
from tests.support.testserver import binaries

log = logging.getLogger(__name__)

DATABASE = "bigdb"
BUILD_VERSION = 1  # bump when the data or the workload changes: older builds are remade
SETTINGS = {
    "shared_buffers": "512MB",
    "maintenance_work_mem": "256MB",
    "work_mem": "16MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "pg_stat_statements.max": "10000",
    "autovacuum": "on",
}


@dataclass(frozen=True)
class Scale:
    """How big the target is."""

    name: str
    events: int
    readings: int
    tables: int
    table_rows: tuple[int, int]  # smallest and largest application table
    users: int
    accounts: int
    devices: int


SCALES = {
    "full": Scale("full", 20_000_000, 4_000_000, 198, (2_000, 60_000), 2_000_000, 50_000, 20_000),
    "small": Scale("small", 1_000_000, 200_000, 198, (200, 3_000), 100_000, 5_000, 2_000),
    "tiny": Scale("tiny", 30_000, 12_000, 20, (100, 400), 3_000, 200, 100),
}


@dataclass(frozen=True)
class Built:
    """What a build made and how long each step took (seconds)."""

    scale: str
    version: int
    steps: dict[str, float]
    database_bytes: int
    events_rows: int
    events_table_bytes: int
    events_index_bytes: int
    readings_rows: int
    readings_partitions: int
    readings_bytes: int
    tables: int
    statements: int
    statements_time_ms: float
    reused: bool = False

    @property
    def seconds(self) -> float:
        return sum(self.steps.values())


class Target:
    """The target cluster in `home` (`home/pg` its data directory)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.cluster = EmbeddedPostgres(home / "pg", bin_dir=binaries())

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.cluster.start(settings=SETTINGS)

    def stop(self) -> None:
        # "fast", never "immediate": pg_stat_statements saves its entries at a clean stop.
        self.cluster.stop("fast")

    @property
    def dsn(self) -> str:
        return self.cluster.dsn(DATABASE)

    @property
    def admin_dsn(self) -> str:
        """The cluster's `postgres` database: the benchmark's own reads go there, so they never
        show in the target's pg_stat_statements."""
        return self.cluster.dsn("postgres")

    def recorded(self, scale: Scale) -> Built | None:
        """The build recorded beside the cluster, if it is of this scale and version."""
        path = self.home / "build.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        if data.get("scale") != scale.name or data.get("version") != BUILD_VERSION:
            return None
        return Built(**{**data, "reused": True})

    def record(self, built: Built) -> None:
        (self.home / "build.json").write_text(json.dumps(asdict(built), indent=1))


async def ensure_built(target: Target, scale: Scale) -> Built:
    """The target of `scale` in `target`: the recorded build, or a new one."""
    admin = await asyncpg.connect(target.admin_dsn)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE)
        previous = target.recorded(scale)
        if exists and previous is not None:
            log.info("reusing the %s target built earlier (%.0f s)", scale.name, previous.seconds)
            return previous
        if exists:
            await admin.execute(f'DROP DATABASE "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    built = await _build(target, scale)
    target.record(built)
    return built


async def _timed(steps: dict[str, float], name: str, work: object) -> None:
    started = time.perf_counter()
    await work  # type: ignore[misc]
    steps[name] = time.perf_counter() - started
    log.info("build: %s in %.1f s", name, steps[name])


async def _build(target: Target, scale: Scale) -> Built:
    steps: dict[str, float] = {}
    conn = await asyncpg.connect(target.dsn, command_timeout=None)
    try:
        await conn.execute("CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg")
        await conn.execute(_SCHEMA)
        await _timed(steps, "events", _load_events(target.dsn, scale))
        await _timed(steps, "readings", conn.execute(_readings_sql(scale)))
        await _timed(steps, "app tables", _load_apps(target.dsn, scale))
        await _timed(steps, "indexes", _index_events(target.dsn))
        await _timed(steps, "vacuum analyze", conn.execute("VACUUM ANALYZE"))
        await conn.execute("CHECKPOINT")
        await conn.execute("SELECT pg_stat_statements_reset()")
    finally:
        await conn.close()
    await _timed(steps, "workload", workload.run(target.dsn, scale))
    return await _measure(target, scale, steps)


_SCHEMA = """
CREATE TABLE events (
  id bigint GENERATED BY DEFAULT AS IDENTITY,
  user_id int NOT NULL,
  account_id int NOT NULL,
  kind smallint NOT NULL,
  status smallint NOT NULL,
  created_at timestamptz NOT NULL,
  amount int NOT NULL,
  order_id bigint,
  note text
);
CREATE TABLE readings (
  id bigint NOT NULL,
  device_id int NOT NULL,
  taken_at timestamptz NOT NULL,
  value float8,
  status smallint NOT NULL
) PARTITION BY RANGE (taken_at);
""" + "".join(
    f"CREATE TABLE readings_2024_{m:02d} PARTITION OF readings FOR VALUES FROM "
    f"('2024-{m:02d}-01 00:00+00') TO ('{2024 + m // 12}-{m % 12 + 1:02d}-01 00:00+00');\n"
    for m in range(1, 13)
)

_EVENTS = """
INSERT INTO events (id, user_id, account_id, kind, status, created_at, amount, order_id, note)
SELECT g,
       1 + floor(power(random(), 3) * {users})::int,
       1 + floor(power(random(), 2) * {accounts})::int,
       floor(power(random(), 2) * 20)::smallint,
       CASE WHEN random() < 0.9 THEN 0 ELSE 1 + floor(random() * 5) END::smallint,
       timestamptz '2023-01-01' + ((g - 1)::float8 / {n}) * interval '730 days'
         + random() * interval '1 hour',
       floor(random() * 10000)::int,
       CASE WHEN g % 3 = 0 THEN g / 3 END,
       'e' || (g % 1000000)
FROM generate_series({lo}, {hi}) g
"""


async def _load_events(dsn: str, scale: Scale) -> None:
    """`events` in chunks of a million rows, on two connections (the machine has 2 cores)."""
    n, chunk = scale.events, 1_000_000
    ranges = [(lo, min(lo + chunk - 1, n)) for lo in range(1, n + 1, chunk)]
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for r in ranges:
        queue.put_nowait(r)

    async def loader() -> None:
        conn = await asyncpg.connect(dsn, command_timeout=None)
        try:
            while not queue.empty():
                lo, hi = queue.get_nowait()
                sql = _EVENTS.format(users=scale.users, accounts=scale.accounts, n=n, lo=lo, hi=hi)
                await conn.execute(sql)
        finally:
            await conn.close()

    await asyncio.gather(loader(), loader())
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('events', 'id'), (SELECT max(id) FROM events))"
        )
    finally:
        await conn.close()


def _readings_sql(scale: Scale) -> str:
    n = scale.readings
    return f"""
INSERT INTO readings (id, device_id, taken_at, value, status)
SELECT g,
       1 + floor(power(random(), 2) * {scale.devices})::int,
       timestamptz '2024-01-01 00:00:00+00' + ((g - 1)::float8 / {n}) * interval '365 days',
       random() * 100,
       CASE WHEN random() < 0.98 THEN 0 ELSE 1 + floor(random() * 3) END::smallint
FROM generate_series(1, {n}) g
"""


def _app_sql(scale: Scale, i: int) -> str:
    name, parent = workload.app(i), workload.app_rows(scale, (i + 1) % scale.tables)
    index = f"CREATE INDEX {name}_status_idx ON {name} (status);" if i % 4 == 0 else ""
    return f"""
CREATE TABLE {name} (
  id int PRIMARY KEY, parent_id int NOT NULL, status smallint NOT NULL,
  created_at timestamptz NOT NULL, name text NOT NULL, score int NOT NULL);
INSERT INTO {name}
SELECT g, 1 + floor(random() * {parent})::int,
       floor(power(random(), 3) * 8)::smallint,
       timestamptz '2023-01-01' + random() * interval '730 days',
       'name-' || g, floor(random() * 1000)::int
FROM generate_series(1, {workload.app_rows(scale, i)}) g;
{index}"""


async def _load_apps(dsn: str, scale: Scale) -> None:
    conn = await asyncpg.connect(dsn, command_timeout=None)
    try:
        for i in range(scale.tables):
            await conn.execute(_app_sql(scale, i))
    finally:
        await conn.close()


async def _index_events(dsn: str) -> None:
    """The primary key and the `created_at` index of `events`, built at once (2 sessions)."""

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(dsn, command_timeout=None)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await asyncio.gather(
        run("ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (id)"),
        run("CREATE INDEX events_created_at_idx ON events (created_at)"),
    )


# The benchmark's own sessions on the target database are not recorded in its
# pg_stat_statements (a count(*) of `events` would otherwise become its heaviest statement).
UNTRACKED = {"pg_stat_statements.track": "none", "application_name": "pgsage-bigdb"}


async def _measure(target: Target, scale: Scale, steps: dict[str, float]) -> Built:
    conn = await asyncpg.connect(target.dsn, server_settings=UNTRACKED)
    try:
        row = await conn.fetchrow(
            """
            SELECT pg_database_size(current_database()) AS db,
                   (SELECT count(*) FROM events) AS events_rows,
                   pg_table_size('events') AS events_table,
                   pg_indexes_size('events') AS events_indexes,
                   (SELECT count(*) FROM readings) AS readings_rows,
                   (SELECT count(*) FROM pg_inherits WHERE inhparent = 'readings'::regclass)
                     AS partitions,
                   (SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
                     WHERE inhparent = 'readings'::regclass) AS readings_bytes,
                   (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                       AND NOT c.relispartition) AS tables
            """
        )
        stats = await conn.fetchrow(
            """
            SELECT count(*) AS statements, coalesce(sum(total_exec_time), 0) AS ms
            FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname = current_database() AND s.calls > 0
              AND s.query !~* '^\\s*(select\\s+pg_stat_statements_reset|checkpoint)'
            """
        )
    finally:
        await conn.close()
    return Built(
        scale=scale.name,
        version=BUILD_VERSION,
        steps=steps,
        database_bytes=int(row["db"]),
        events_rows=int(row["events_rows"]),
        events_table_bytes=int(row["events_table"]),
        events_index_bytes=int(row["events_indexes"]),
        readings_rows=int(row["readings_rows"]),
        readings_partitions=int(row["partitions"]),
        readings_bytes=int(row["readings_bytes"] or 0),
        tables=int(row["tables"]),
        statements=int(stats["statements"]),
        statements_time_ms=float(stats["ms"]),
    )
