"""A scratch schema on the target holding a sampled copy of the tables a benchmark touches.

Only for targets that opt in (`benchmark_sampling = true`). Each table is copied with
`CREATE TABLE scratch.t (LIKE t INCLUDING CONSTRAINTS INCLUDING INDEXES)` (defaults are
left out, so an INSERT measured on the copy never advances a real sequence), then filled:

- a table with no parent among the copied tables gets `TABLESAMPLE` of the given percentage
  (SYSTEM, block-level, for large tables; BERNOULLI, row-level, for small ones, where a few
  blocks would be a lumpy sample), `REPEATABLE` so a rerun draws the same rows;
- a table with a foreign key into an already copied table gets the rows whose key points
  into that copy (its largest such parent), so joins along that key still match and the
  child's sample has about the same percentage.

Then `ANALYZE`, so plans on the copy see its statistics. Every statement is reported; the
caller drops the schema (CASCADE) when it is done, whatever happened.
"""

# ruff: noqa: S608 - identifiers are quoted with sqlcheck.quote_ident, numbers are formatted
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg
import pglast
from pglast import ast
from pglast.stream import RawStream

from optimizer_service import ddl
from pgsage import errors, sqlcheck

SYSTEM_MIN_PAGES = 1000
SEED = 42


@dataclass(frozen=True)
class Fk:
    """A foreign key between two copied tables, columns in key order."""

    child: int
    parent: int
    child_columns: tuple[str, ...]
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """How one table is filled: sampled (`follows` None) or following a parent's copy."""

    oid: int
    follows: Fk | None


@dataclass(frozen=True)
class Source:
    oid: int
    schema: str
    name: str
    pages: int


def sampling_plan(oids: Sequence[int], sizes: Mapping[int, float], fks: Sequence[Fk]) -> list[Step]:
    """The order to fill tables in, parents first, and how each is filled (pure).

    A child follows the largest of its parents already filled; tables in a foreign-key cycle
    are sampled on their own once nothing else can go first.
    """
    remaining = list(dict.fromkeys(oids))
    placed: list[int] = []
    steps: list[Step] = []
    while remaining:
        ready = [
            o
            for o in remaining
            if all(fk.parent in placed for fk in fks if fk.child == o and fk.parent != o)
        ]
        oid = ready[0] if ready else remaining[0]
        parents = [fk for fk in fks if fk.child == oid and fk.parent in placed]
        follows = max(parents, key=lambda fk: sizes.get(fk.parent, 0.0)) if parents else None
        steps.append(Step(oid, follows))
        placed.append(oid)
        remaining.remove(oid)
    return steps


async def resolve(conn: asyncpg.Connection, names: Sequence[str]) -> dict[str, int]:
    """The oid of each relation name (as written in SQL) that is a table, matview or
    partitioned table on this session's search path."""
    found: dict[str, int] = {}
    for name in names:
        oid = await conn.fetchval(
            "SELECT c.oid::int FROM pg_class c WHERE c.oid = to_regclass($1) "
            "AND c.relkind IN ('r', 'p', 'm')",
            name,
        )
        if oid is not None:
            found[name] = oid
    return found


def written(rel: ast.RangeVar) -> str:
    """A relation as `schema.name` or `name`, quoted where SQL needs it."""
    return ".".join(sqlcheck.quote_ident(p) for p in (rel.schemaname, rel.relname) if p)


def relation_names(sql: str) -> list[str]:
    """Every relation a statement names (not its CTEs), as `schema.name` or `name`."""
    names: list[str] = []
    ctes: set[str] = set()
    for node in sqlcheck.walk(pglast.parse_sql(sql)):
        if isinstance(node, ast.CommonTableExpr) and node.ctename:
            ctes.add(node.ctename)
        if isinstance(node, ast.RangeVar) and node.relname:
            names.append(written(node))
    return [n for n in dict.fromkeys(names) if n not in {sqlcheck.quote_ident(c) for c in ctes}]


def rewrite(sql: str, mapping: Mapping[str, object], schema: str) -> str:
    """`sql` with every relation named in `mapping` moved to `schema` (same table name)."""
    stmts = pglast.parse_sql(sql)
    for node in sqlcheck.walk(stmts):
        if isinstance(node, ast.RangeVar) and node.relname and written(node) in mapping:
            node.schemaname = schema
    return "; ".join(RawStream()(s) for s in stmts)


async def _sources(conn: asyncpg.Connection, oids: Sequence[int]) -> dict[int, Source]:
    rows = await conn.fetch(
        "SELECT c.oid::int AS oid, n.nspname, c.relname, c.relpages FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($1::oid[])",
        list(oids),
    )
    return {r["oid"]: Source(r["oid"], r["nspname"], r["relname"], r["relpages"]) for r in rows}


async def _fks(conn: asyncpg.Connection, oids: Sequence[int]) -> list[Fk]:
    rows = await conn.fetch(
        """
        SELECT c.conrelid::int AS child, c.confrelid::int AS parent,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                     ORDER BY k.i) AS child_columns,
               ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                     ORDER BY k.i) AS parent_columns
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.conrelid = ANY($1::oid[]) AND c.confrelid = ANY($1::oid[])
          AND c.conrelid <> c.confrelid
        ORDER BY c.conname
        """,
        list(oids),
    )
    return [
        Fk(r["child"], r["parent"], tuple(r["child_columns"]), tuple(r["parent_columns"]))
        for r in rows
    ]


def _fill_sql(scratch: str, step: Step, sources: Mapping[int, Source], percent: float) -> str:
    src = sources[step.oid]
    copy = f"{sqlcheck.quote_ident(scratch)}.{sqlcheck.quote_ident(src.name)}"
    origin = f"{sqlcheck.quote_ident(src.schema)}.{sqlcheck.quote_ident(src.name)}"
    if step.follows is None:
        method = "SYSTEM" if src.pages >= SYSTEM_MIN_PAGES else "BERNOULLI"
        return (
            f"INSERT INTO {copy} SELECT * FROM {origin} "
            f"TABLESAMPLE {method} ({percent:g}) REPEATABLE ({SEED})"
        )
    fk = step.follows
    parent = f"{sqlcheck.quote_ident(scratch)}.{sqlcheck.quote_ident(sources[fk.parent].name)}"
    match = " AND ".join(
        f"p.{sqlcheck.quote_ident(pc)} = c.{sqlcheck.quote_ident(cc)}"
        for cc, pc in zip(fk.child_columns, fk.parent_columns, strict=True)
    )
    return (
        f"INSERT INTO {copy} SELECT c.* FROM {origin} c "
        f"WHERE EXISTS (SELECT 1 FROM {parent} p WHERE {match})"
    )


async def copy_sample(
    conn: asyncpg.Connection,
    emit: ddl.Emit,
    where: str,
    scratch: str,
    oids: Sequence[int],
    percent: float,
) -> None:
    """Creates schema `scratch` and fills it with consistent samples of tables `oids`."""
    sources = await _sources(conn, oids)
    names = {s.name for s in sources.values()}
    if len(names) < len(sources):
        raise errors.FailedPrecondition(
            "two tables the benchmark touches share a name in different schemas; a scratch "
            "schema cannot hold both (use a sandbox target)",
            reason="BENCHMARK_TABLE_NAME_CLASH",
        )
    sizes = dict(
        await conn.fetch(
            "SELECT oid::int, reltuples FROM pg_class WHERE oid = ANY($1::oid[])", list(oids)
        )
    )
    steps = sampling_plan(list(oids), sizes, await _fks(conn, oids))
    await ddl.run(conn, emit, where, f"CREATE SCHEMA {sqlcheck.quote_ident(scratch)}")
    for step in steps:
        src = sources[step.oid]
        copy = f"{sqlcheck.quote_ident(scratch)}.{sqlcheck.quote_ident(src.name)}"
        origin = f"{sqlcheck.quote_ident(src.schema)}.{sqlcheck.quote_ident(src.name)}"
        await ddl.run(
            conn,
            emit,
            where,
            f"CREATE TABLE {copy} (LIKE {origin} INCLUDING CONSTRAINTS INCLUDING INDEXES)",
        )
        await ddl.run(conn, emit, where, _fill_sql(scratch, step, sources, percent))
        await ddl.run(conn, emit, where, f"ANALYZE {copy}")
