"""The workload: the 22 TPC-H queries of duckdb-extension-tpch, minus 2, 17 and 20.

The queries come from the extension's `tpch_queries()` with its default parameters. The
extension is loaded from the file the pip package ships (`duckdb_extension_tpch/extensions/`),
with DuckDB's auto-install and auto-load turned off, so nothing is fetched from the network.

Rewrites to the PostgreSQL dialect, all of them (each keeps the query's meaning):
- the trailing `;` is removed, so the text can follow `EXPLAIN`.
That is the only one: DuckDB's texts of these 19 queries (`CAST('…' AS date)`, `date '…'`,
`extract(year FROM …)`, `substring(… FROM 1 FOR 2)`, the `WITH revenue AS (…)` of Q15, the
derived-column list `c_orders (c_custkey, c_count)` of Q13) are valid PostgreSQL as they are.
`check_dialect` plans every query on the loaded database, so a rewrite that is needed but
missing shows up as an error rather than a silently skipped query.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg
import duckdb
import duckdb_extension_tpch

# They dominate the workload cost by orders of magnitude (BENCH.md).
EXCLUDED = frozenset({2, 17, 20})


@dataclass(frozen=True)
class Query:
    """One workload query: its TPC-H number, PostgreSQL text and weight."""

    number: int
    text: str
    weight: float = 1.0

    @property
    def query_id(self) -> str:
        return f"tpch-q{self.number:02d}"


def _extension_file() -> Path:
    root = Path(duckdb_extension_tpch.__file__).parent / "extensions"
    files = sorted(root.glob("*/tpch.duckdb_extension"))
    if not files:
        raise RuntimeError(f"no tpch.duckdb_extension under {root}")
    return files[-1]


def duckdb_texts() -> dict[int, str]:
    """All 22 query texts of `tpch_queries()`, by number, loaded offline."""
    conn = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        conn.execute(f"LOAD '{_extension_file()}'")
        rows = conn.execute("SELECT query_nr, query FROM tpch_queries() ORDER BY 1").fetchall()
    finally:
        conn.close()
    return {int(n): str(q) for n, q in rows}


def to_postgres(text: str) -> str:
    """The PostgreSQL form of one DuckDB query text (see the module docstring)."""
    return text.strip().removesuffix(";").strip()


def workload() -> list[Query]:
    """The 19 queries of the protocol, each with weight 1, in TPC-H order."""
    return [
        Query(number, to_postgres(text))
        for number, text in duckdb_texts().items()
        if number not in EXCLUDED
    ]


async def check_dialect(conn: asyncpg.Connection, queries: list[Query]) -> None:
    """Plans every query once; raises with the query's number if PostgreSQL rejects one."""
    for q in queries:
        try:
            await conn.execute(f"EXPLAIN {q.text}")
        except asyncpg.PostgresError as exc:
            raise RuntimeError(f"TPC-H Q{q.number} does not plan on PostgreSQL: {exc}") from exc
