"""TPC-H data: generated once with tpchgen-cli, loaded with no index into a database of its own.

BENCH.md's protocol: no indexes at all (no primary keys either), `CREATE EXTENSION hypopg`, one
`ANALYZE` after loading, the trailing `|` of every `.tbl` line stripped before COPY. The column
types are those of the TPC-H kit's `dss.ddl` (the schema the reference figures were measured on).

ANALYZE samples 300 x `default_statistics_target` rows at random, so two loads of the same data
get slightly different statistics, and discrete choices (Extend's, pgsage's) can flip between
them. Where every table fits in one sample (up to 3 million rows: scale factor 0.01, not 1),
the one ANALYZE runs with a statistics target just large enough to read every row, which makes
the statistics — and so every figure of the small CI version — the same on every load. At
scale factor 1 the default target is kept (the reference figures were measured with it), and
a loaded database is reused, so repeated runs share one set of statistics. Autovacuum is off
on the tables, so a VACUUM or ANALYZE that the server would start on its own at some moment
(changing visibility-map counts and statistics mid-run) never does.

Loading scale factor 1 takes a minute or two, so a loaded database is reused: the load records
its row counts in the database's comment once it is complete, and a later run reuses the
database when the comment is there, the tables hold exactly those rows, and no index exists.
An advisory lock per database name serialises concurrent runs of the benchmark.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

DATA_ROOT = Path(__file__).resolve().parent.parent / ".data"
# Bumped when the way a database is loaded changes, so older loads are redone.
LOAD_VERSION = 2
# The most rows one ANALYZE sample can hold (statistics target 10,000 x 300).
FULL_SAMPLE_ROWS = 3_000_000

TABLES: dict[str, str] = {
    "region": """
        r_regionkey integer not null, r_name char(25) not null, r_comment varchar(152)""",
    "nation": """
        n_nationkey integer not null, n_name char(25) not null, n_regionkey integer not null,
        n_comment varchar(152)""",
    "part": """
        p_partkey integer not null, p_name varchar(55) not null, p_mfgr char(25) not null,
        p_brand char(10) not null, p_type varchar(25) not null, p_size integer not null,
        p_container char(10) not null, p_retailprice decimal(15,2) not null,
        p_comment varchar(23) not null""",
    "supplier": """
        s_suppkey integer not null, s_name char(25) not null, s_address varchar(40) not null,
        s_nationkey integer not null, s_phone char(15) not null, s_acctbal decimal(15,2) not null,
        s_comment varchar(101) not null""",
    "partsupp": """
        ps_partkey integer not null, ps_suppkey integer not null, ps_availqty integer not null,
        ps_supplycost decimal(15,2) not null, ps_comment varchar(199) not null""",
    "customer": """
        c_custkey integer not null, c_name varchar(25) not null, c_address varchar(40) not null,
        c_nationkey integer not null, c_phone char(15) not null, c_acctbal decimal(15,2) not null,
        c_mktsegment char(10) not null, c_comment varchar(117) not null""",
    "orders": """
        o_orderkey integer not null, o_custkey integer not null, o_orderstatus char(1) not null,
        o_totalprice decimal(15,2) not null, o_orderdate date not null,
        o_orderpriority char(15) not null, o_clerk char(15) not null,
        o_shippriority integer not null, o_comment varchar(79) not null""",
    "lineitem": """
        l_orderkey integer not null, l_partkey integer not null, l_suppkey integer not null,
        l_linenumber integer not null, l_quantity decimal(15,2) not null,
        l_extendedprice decimal(15,2) not null, l_discount decimal(15,2) not null,
        l_tax decimal(15,2) not null, l_returnflag char(1) not null,
        l_linestatus char(1) not null, l_shipdate date not null, l_commitdate date not null,
        l_receiptdate date not null, l_shipinstruct char(25) not null,
        l_shipmode char(10) not null, l_comment varchar(44) not null""",
}


@dataclass(frozen=True)
class Dataset:
    """One scale factor: where its files live and which database holds it."""

    scale: float
    # The database's name; empty means the default for the scale (`database`).
    name: str = ""

    @property
    def label(self) -> str:
        """`1` or `0.01`, as tpchgen-cli and people write it."""
        return f"{self.scale:g}"

    @property
    def directory(self) -> Path:
        return DATA_ROOT / f"sf{self.label}"

    @property
    def database(self) -> str:
        """`pgsage_tpch_sf1`, `pgsage_tpch_sf001`, unless a name was given."""
        return self.name or "pgsage_tpch_sf" + self.label.replace(".", "")


def generate(dataset: Dataset) -> Path:
    """Writes the `.tbl` files with tpchgen-cli unless a complete set is already there."""
    marker = dataset.directory / ".complete"
    if marker.exists():
        return dataset.directory
    exe = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    dataset.directory.mkdir(parents=True, exist_ok=True)
    log.info("generating TPC-H scale factor %s into %s", dataset.label, dataset.directory)
    subprocess.run(
        [exe, "-s", dataset.label, "-o", str(dataset.directory)],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    missing = [t for t in TABLES if not (dataset.directory / f"{t}.tbl").exists()]
    if missing:
        raise RuntimeError(f"tpchgen-cli wrote no file for {', '.join(missing)}")
    marker.write_text("ok\n")
    return dataset.directory


async def _stripped_chunks(path: Path, size: int = 8 << 20) -> AsyncIterator[bytes]:
    """The file's bytes with the trailing `|` of each line removed, in whole-line chunks."""
    rest = b""
    with path.open("rb") as f:
        while chunk := f.read(size):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            rest = chunk[cut:]
            yield chunk[:cut].replace(b"|\n", b"\n")
            await asyncio.sleep(0)
    if rest:
        yield rest.removesuffix(b"|")


def _dsn_for(server_dsn: str, database: str) -> str:
    base, _, _ = server_dsn.rpartition("/")
    return f"{base}/{database}"


async def _loaded_counts(conn: asyncpg.Connection) -> dict[str, int] | None:
    """The counts recorded by a complete load, if this database had one and still matches it."""
    comment = await conn.fetchval(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database"
        " WHERE datname = current_database()"
    )
    try:
        meta = json.loads(comment or "")
        recorded = meta["pgsage_tpch_rows"]
    except (ValueError, KeyError, TypeError):
        return None
    if meta.get("load") != LOAD_VERSION:
        return None
    if set(recorded) != set(TABLES):
        return None
    for table, rows in recorded.items():
        actual = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
        if actual != rows:
            return None
    indexes = await conn.fetchval("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")
    hypopg = await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'hypopg'")
    if indexes or not hypopg:
        return None
    return recorded


async def _load(dsn: str, dataset: Dataset) -> dict[str, int]:
    directory = generate(dataset)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        for table, columns in TABLES.items():
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
            await conn.execute(
                f"CREATE TABLE {table} ({columns})"
                " WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)"
            )
    finally:
        await conn.close()

    async def copy(table: str) -> None:
        c = await asyncpg.connect(dsn)
        try:
            await c.copy_to_table(
                table,
                source=_stripped_chunks(directory / f"{table}.tbl"),
                format="text",
                delimiter="|",
            )
        finally:
            await c.close()

    # Two connections: the largest table on one, everything else on the other.
    others = [t for t in TABLES if t != "lineitem"]

    async def copy_others() -> None:
        for t in others:
            await copy(t)

    await asyncio.gather(copy("lineitem"), copy_others())
    conn = await asyncpg.connect(dsn)
    try:
        counts = {
            t: await conn.fetchval(f"SELECT count(*) FROM {t}")  # noqa: S608 - fixed names
            for t in TABLES
        }
        largest = max(counts.values())
        if largest <= FULL_SAMPLE_ROWS:
            target = max(100, -(-largest // 300))
            await conn.execute(f"SET default_statistics_target = {target}")
        await conn.execute("ANALYZE")
        comment = json.dumps({"pgsage_tpch_rows": counts, "load": LOAD_VERSION})
        comment = comment.replace("'", "''")
        await conn.execute(f"COMMENT ON DATABASE {dataset.database} IS '{comment}'")
    finally:
        await conn.close()
    return counts


async def ensure_loaded(server_dsn: str, dataset: Dataset, database: str | None = None) -> str:
    """Returns the DSN of a database holding `dataset` as the protocol wants it, loading if needed.

    `server_dsn` is any DSN on the server (its database is only used to create the TPC-H one);
    `database` overrides the default name (tests use a name of their own and drop it after).
    """
    if database:
        dataset = Dataset(dataset.scale, database)
    name = dataset.database
    admin = await asyncpg.connect(server_dsn)
    try:
        # One process at a time checks or loads a given TPC-H database.
        await admin.execute("SELECT pg_advisory_lock(hashtext($1))", name)
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
        dsn = _dsn_for(server_dsn, name)
        conn = await asyncpg.connect(dsn)
        try:
            reusable = await _loaded_counts(conn)
        finally:
            await conn.close()
        if reusable is None:
            log.info("loading TPC-H scale factor %s into %s", dataset.label, name)
            await _load(dsn, dataset)
        else:
            log.info("reusing %s (%d lineitem rows)", name, reusable["lineitem"])
        return dsn
    finally:
        await admin.execute("SELECT pg_advisory_unlock(hashtext($1))", name)
        await admin.close()
