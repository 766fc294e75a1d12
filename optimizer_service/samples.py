"""Parameter values for a benchmark's `$n` queries, drawn from the data being measured.

A parameter compared for equality (or IN) with a column, or assigned to one (UPDATE SET,
INSERT VALUES), gets a random existing value of that column (`ORDER BY random()` after
`setseed`, so a rerun draws the same values); a range bound gets the pg_stats histogram
bound the analysis would use (`parameters`), so a range selects about a tenth of the rows
rather than a random slice. LIMIT gets 100, OFFSET 0. Anything else (a `$n` passed to a
function, say) has no value to draw: its query is reported as not measured, and why.
"""

from __future__ import annotations

import re

import asyncpg
import pglast
from pglast import ast

from optimizer_service import ddl, parameters, sandbox, sqltext
from pgsage import sqlcheck


class NoValue(Exception):
    """A `$n` that cannot be given a value from the data (so its query is not measured)."""

    def __init__(self, number: int, why: str) -> None:
        super().__init__(f"no value could be drawn for ${number}: {why}")


_PARAM = re.compile(r"\$(\d+)(?!\d)")
SEED = 0.42


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
        name = sandbox.written(rel)
        has = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) "
            "AND attname = $2 AND attnum > 0 AND NOT attisdropped)",
            name,
            col,
        )
        if not has:
            continue
        quoted = sqlcheck.quote_ident(col)
        # format('%s') calls the type's output function itself: a `::text` could be a
        # user's CAST (with a function of theirs) on the target.
        sql = (
            f"SELECT format('%s', {quoted}) FROM {name} WHERE {quoted} IS NOT NULL "  # noqa: S608 - quoted identifiers
            "ORDER BY random() LIMIT 1"
        )
        await conn.execute(f"SELECT setseed({SEED})")
        value = await ddl.run(conn, emit, where, sql, call=conn.fetchval)
        return None if value is None else str(value)
    return None


def _param_number(node: object) -> int | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node.number if isinstance(node, ast.ParamRef) else None


def _assignments(tree: object) -> dict[int, tuple[str, ...]]:
    """`$n` assigned to a column (`UPDATE ... SET col = $n`, `INSERT (col) VALUES ($n)`)."""
    found: dict[int, tuple[str, ...]] = {}
    for node in sqlcheck.walk(tree):
        pairs: list[tuple[str | None, object]] = []
        if isinstance(node, ast.UpdateStmt):
            pairs = [(t.name, t.val) for t in node.targetList or ()]
        if isinstance(node, ast.InsertStmt) and node.cols:
            names = [c.name for c in node.cols]
            for row in getattr(node.selectStmt, "valuesLists", None) or ():
                pairs += list(zip(names, row, strict=False))
        for name, value in pairs:
            number = _param_number(value)
            if number is not None and name:
                found[number] = (name,)
    return found


async def draw(
    conn: asyncpg.Connection, emit: ddl.Emit, where: str, text: str
) -> tuple[list[str], str]:
    """The values for the `$n` of `text` and `text` with them filled in; NoValue when one
    cannot be given a value."""
    wanted = sorted({int(m) for m in _PARAM.findall(text)})
    if not wanted:
        return [], text
    tree = pglast.parse_sql(text)
    uses, fixed, rels = parameters.uses_of(tree)
    for number, column in _assignments(tree).items():
        uses.setdefault(number, parameters.Use(column, -1))
    values: dict[int, str] = {}
    for number in wanted:
        if number in fixed:
            value: str | None = fixed[number]
        elif number not in uses:
            raise NoValue(number, "it is compared with no column")
        elif uses[number].position < 0:
            value = await _random_value(conn, emit, where, uses[number].column, rels)
        else:
            value = await parameters._value(conn, uses[number], rels)
        if value is None:
            raise NoValue(number, "its column has no value to draw")
        values[number] = value
    filled = _PARAM.sub(lambda m: sqltext.quote_literal(values[int(m.group(1))]), text)
    return [values[n] for n in sorted(values)], filled
