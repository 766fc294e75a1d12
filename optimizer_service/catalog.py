"""Catalog reads on a target: existing indexes, column statistics and table write rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from optimizer_service.model import Table

INDEXES_SQL = """
SELECT n.nspname AS schema, t.relname AS table, i.relname AS name, ix.indexrelid AS oid,
       pg_get_indexdef(ix.indexrelid) AS indexdef,
       am.amname AS am, ix.indisprimary AS is_primary, ix.indisunique AS is_unique,
       ix.indisvalid AS is_valid, ix.indisexclusion AS is_exclusion,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) AS backs_constraint,
       ix.indnkeyatts AS nkeys,
       ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k, true)
             FROM generate_series(1, ix.indnatts) AS k ORDER BY k) AS columns,
       ARRAY(SELECT u.attnum = 0 FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS u(attnum, ord)
             ORDER BY u.ord) AS is_expression,
       coalesce(pg_get_expr(ix.indpred, ix.indrelid), '') AS predicate,
       coalesce(s.idx_scan, 0) AS idx_scan,
       pg_relation_size(ix.indexrelid) AS size
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = ix.indexrelid
WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY n.nspname, t.relname, i.relname
"""


@dataclass(frozen=True)
class ExistingIndex:
    """An index on the target, as the catalog describes it."""

    table: Table
    name: str
    oid: int
    indexdef: str
    am: str
    is_primary: bool
    is_unique: bool
    is_valid: bool
    backs_constraint: bool
    keys: tuple[str, ...]
    include: tuple[str, ...]
    has_expressions: bool
    predicate: str
    idx_scan: int
    size: int

    @property
    def protected(self) -> bool:
        """Never suggested for dropping: PK, unique, exclusion or constraint-backing."""
        return self.is_primary or self.is_unique or self.backs_constraint


async def indexes(conn: asyncpg.Connection) -> list[ExistingIndex]:
    rows = await conn.fetch(INDEXES_SQL)
    result = []
    for r in rows:
        cols = list(r["columns"])
        nkeys = r["nkeys"]
        result.append(
            ExistingIndex(
                table=Table(r["schema"], r["table"]),
                name=r["name"],
                oid=r["oid"],
                indexdef=r["indexdef"],
                am=r["am"],
                is_primary=r["is_primary"],
                is_unique=r["is_unique"],
                is_valid=r["is_valid"],
                backs_constraint=r["backs_constraint"] or r["is_exclusion"],
                keys=tuple(cols[:nkeys]),
                include=tuple(cols[nkeys:]),
                has_expressions=any(r["is_expression"]),
                predicate=r["predicate"],
                idx_scan=int(r["idx_scan"]),
                size=int(r["size"]),
            )
        )
    return result


@dataclass(frozen=True)
class ColumnStats:
    n_distinct: float  # estimated number of distinct values (absolute)
    null_frac: float


async def column_stats(
    conn: asyncpg.Connection, tables: list[Table]
) -> dict[tuple[Table, str], ColumnStats]:
    """pg_stats of the given tables, n_distinct made absolute with reltuples."""
    if not tables:
        return {}
    rows = await conn.fetch(
        """
        SELECT s.schemaname, s.tablename, s.attname, s.n_distinct, s.null_frac,
               greatest(c.reltuples, 1) AS reltuples
        FROM pg_stats s
        JOIN pg_namespace n ON n.nspname = s.schemaname
        JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
        WHERE (s.schemaname, s.tablename) IN (
            SELECT * FROM unnest($1::text[], $2::text[]))
        """,
        [t.schema for t in tables],
        [t.name for t in tables],
    )
    result = {}
    for r in rows:
        nd = float(r["n_distinct"] or 0)
        if nd < 0:
            nd = -nd * float(r["reltuples"])
        result[(Table(r["schemaname"], r["tablename"]), r["attname"])] = ColumnStats(
            n_distinct=max(nd, 1.0), null_frac=float(r["null_frac"] or 0)
        )
    return result


@dataclass(frozen=True)
class TableWrites:
    rows_modified: int
    since: datetime | None


async def partition_roots(conn: asyncpg.Connection) -> dict[Table, Table]:
    """Every partition (at any depth) of a partitioned table → that root table."""
    rows = await conn.fetch(
        """
        SELECT pn.nspname AS schema, p.relname AS name, rn.nspname AS root_schema,
               r.relname AS root_name
        FROM pg_class p
        JOIN pg_namespace pn ON pn.oid = p.relnamespace
        JOIN pg_class r ON r.oid = pg_partition_root(p.oid)
        JOIN pg_namespace rn ON rn.oid = r.relnamespace
        WHERE p.relispartition AND p.relkind IN ('r', 'p')
        """
    )
    return {Table(r["schema"], r["name"]): Table(r["root_schema"], r["root_name"]) for r in rows}


async def table_writes(conn: asyncpg.Connection) -> dict[Table, TableWrites]:
    """Rows inserted, updated and deleted per table since the database's stats reset; a
    partitioned table's are the sum of its partitions' (it has none of its own)."""
    rows = await conn.fetch(
        """
        SELECT n.nspname AS schemaname, c.relname,
               t.n_tup_ins + t.n_tup_upd + t.n_tup_del AS modified, d.stats_reset
        FROM pg_stat_user_tables t
        JOIN pg_class c ON c.oid = COALESCE(pg_partition_root(t.relid), t.relid)
        JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN pg_stat_database d
        WHERE d.datname = current_database()
        """
    )
    result: dict[Table, TableWrites] = {}
    for r in rows:
        table = Table(r["schemaname"], r["relname"])
        known = result.get(table)
        total = int(r["modified"]) + (known.rows_modified if known else 0)
        result[table] = TableWrites(total, r["stats_reset"])
    return result


async def all_visible_fractions(
    conn: asyncpg.Connection, tables: list[Table]
) -> dict[Table, float]:
    """Per table, the fraction of pages the visibility map marks all-visible (index-only
    scans pay a heap visit for every other page, so covering indexes help only here)."""
    rows = await conn.fetch(
        """
        SELECT n.nspname, c.relname,
               CASE WHEN c.relpages > 0 THEN c.relallvisible::float8 / c.relpages ELSE 0 END
                   AS fraction
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))
        """,
        [t.schema for t in tables],
        [t.name for t in tables],
    )
    return {Table(r["nspname"], r["relname"]): float(r["fraction"]) for r in rows}
