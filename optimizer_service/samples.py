"""Parameter values for a benchmark's `$n` queries, drawn from the data being measured.

A parameter compared for equality (or IN) with a column gets a random existing value of
that column (`ORDER BY random()` after `setseed`, so a rerun draws the same values); a range
bound gets the pg_stats histogram bound the analysis would use (`parameters`), so a range
selects about a tenth of the rows rather than a random slice. LIMIT gets 100, OFFSET 0.
"""

from __future__ import annotations

import re

import asyncpg
import pglast
from pglast import ast

from optimizer_service import ddl, parameters, sqltext

_PARAM = re.compile(r"\$(\d+)(?!\d)")
SEED = 0.42


def _relation(rel: ast.RangeVar) -> str:
    parts = [p for p in (rel.schemaname, rel.relname) if p]
    return ".".join(sqltext.quote_ident(p) for p in parts)


async def _random_value(
    conn: asyncpg.Connection, emit: ddl.Emit, where: str, column: tuple[str, ...], rels: list
) -> str | None:
    col = column[-1]
    candidates = [
        r
        for r in rels
        if len(column) == 1
        or (r.alias and r.alias.aliasname == column[0])
        or r.relname == column[0]
    ]
    for rel in candidates:
        name = _relation(rel)
        has = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) "
            "AND attname = $2 AND attnum > 0 AND NOT attisdropped)",
            name,
            col,
        )
        if not has:
            continue
        quoted = sqltext.quote_ident(col)
        sql = (
            f"SELECT {quoted}::text FROM {name} WHERE {quoted} IS NOT NULL "  # noqa: S608 - quoted identifiers
            "ORDER BY random() LIMIT 1"
        )
        await conn.execute(f"SELECT setseed({SEED})")
        value = await ddl.run(conn, emit, where, sql, call=conn.fetchval)
        return None if value is None else str(value)
    return None


async def draw(
    conn: asyncpg.Connection, emit: ddl.Emit, where: str, text: str
) -> tuple[list[str], str] | None:
    """The values for `$1..$n` and `text` with them filled in, or None when one has none."""
    wanted = sorted({int(m) for m in _PARAM.findall(text)})
    if not wanted:
        return [], text
    uses: dict[int, parameters.Use] = {}
    fixed: dict[int, str] = {}
    rels: list[ast.RangeVar] = []
    parameters._walk(pglast.parse_sql(text), uses, fixed, rels)
    values: dict[int, str] = {}
    for number in wanted:
        if number in fixed:
            value: str | None = fixed[number]
        elif number not in uses:
            return None
        elif uses[number].position < 0:
            value = await _random_value(conn, emit, where, uses[number].column, rels)
        else:
            value = await parameters._value(conn, uses[number], rels)
        if value is None:
            return None
        values[number] = value
    filled = _PARAM.sub(lambda m: sqltext.quote_literal(values[int(m.group(1))]), text)
    return [values[n] for n in sorted(values)], filled
