"""Values for `$n` parameters taken from pg_stats, so range predicates are costed for what
they select rather than the planner's generic guess.

Each parameter compared with a column gets a typical value of that column: for equality
(and IN) the middle histogram bound (a value that is not among the most common ones) or the
middle most-common value; for `col > $n` the bound at the 90th percentile and for
`col < $n` the one at the 10th (about a tenth of the rows either way); for
`BETWEEN $a AND $b` the 45th and 55th percentiles. LIMIT gets 100 and OFFSET 0. When any
parameter cannot be given a value this way, the statement is planned generically instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import asyncpg
import pglast
from pglast import ast, enums

from optimizer_service import sqltext
from optimizer_service.model import ParamMode
from pgsage import sqlcheck

_PARAM = re.compile(r"\$(\d+)(?!\d)")
_LOW_OPS = {">", ">="}
_HIGH_OPS = {"<", "<="}
_FLIP = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "=": "="}


@dataclass(frozen=True)
class Use:
    column: tuple[str, ...]  # ColumnRef fields, e.g. ("o", "created_at") or ("status",)
    position: float  # 0..1 percentile of the histogram, or -1 for "typical equality value"


def _column_fields(node: object) -> tuple[str, ...] | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and node.fields:
        if all(isinstance(f, ast.String) and f.sval for f in node.fields):
            return tuple(f.sval for f in node.fields)
    return None


def uses_of(tree: object) -> tuple[dict[int, Use], dict[int, str], list[ast.RangeVar]]:
    """What a statement's `$n` are compared with, the ones fixed (LIMIT/OFFSET), and the
    relations it reads."""
    uses: dict[int, Use] = {}
    fixed: dict[int, str] = {}
    rels: list[ast.RangeVar] = []
    for node in sqlcheck.walk(tree):
        _visit(node, uses, fixed, rels)
    return uses, fixed, rels


def _param(node: object) -> int | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return node.number if isinstance(node, ast.ParamRef) else None


def _visit(
    node: ast.Node, uses: dict[int, Use], fixed: dict[int, str], rels: list[ast.RangeVar]
) -> None:
    if isinstance(node, ast.RangeVar):
        rels.append(node)
    if isinstance(node, ast.SelectStmt):
        for attr, value in (("limitCount", "100"), ("limitOffset", "0")):
            number = _param(getattr(node, attr))
            if number is not None:
                fixed[number] = value
    if isinstance(node, ast.A_Expr):
        op = node.name[-1].sval if node.name else ""
        if node.kind == enums.A_Expr_Kind.AEXPR_BETWEEN and isinstance(node.rexpr, tuple):
            col = _column_fields(node.lexpr)
            lo, hi = (_param(x) for x in node.rexpr)
            if col and lo is not None:
                uses[lo] = Use(col, 0.45)
            if col and hi is not None:
                uses[hi] = Use(col, 0.55)
        elif node.kind == enums.A_Expr_Kind.AEXPR_IN and isinstance(node.rexpr, tuple):
            col = _column_fields(node.lexpr)
            for item in node.rexpr:
                number = _param(item)
                if col and number is not None:
                    uses[number] = Use(col, -1)
        elif node.kind in (enums.A_Expr_Kind.AEXPR_OP, enums.A_Expr_Kind.AEXPR_OP_ANY):
            for col_side, param_side, oper in (
                (node.lexpr, node.rexpr, op),
                (node.rexpr, node.lexpr, _FLIP.get(op, op)),
            ):
                col, number = _column_fields(col_side), _param(param_side)
                if col and number is not None:
                    position = 0.9 if oper in _LOW_OPS else 0.1 if oper in _HIGH_OPS else -1
                    uses[number] = Use(col, position)


async def _value(conn: asyncpg.Connection, use: Use, rels: list[ast.RangeVar]) -> str | None:
    col = use.column[-1]
    names = [r.relname for r in rels]
    if len(use.column) == 2:
        qual = use.column[0]
        names = [
            r.relname for r in rels if (r.alias and r.alias.aliasname == qual) or r.relname == qual
        ]
    row = await conn.fetchrow(
        """
        SELECT histogram_bounds::text::text[] AS hist, most_common_vals::text::text[] AS mcv
        FROM pg_stats
        WHERE tablename = ANY($1::text[]) AND attname = $2
          AND schemaname = ANY(current_schemas(false))
        ORDER BY array_position(current_schemas(false), schemaname::text), tablename
        LIMIT 1
        """,
        names,
        col,
    )
    if row is None:
        return None
    hist, mcv = row["hist"] or [], row["mcv"] or []
    if use.position < 0:
        values = hist or mcv
        return values[len(values) // 2] if values else None
    if hist:
        return hist[min(len(hist) - 1, int(use.position * (len(hist) - 1)))]
    return mcv[len(mcv) // 2] if mcv else None


async def substitute(conn: asyncpg.Connection, text: str) -> str | None:
    """`text` with every `$n` replaced by a literal from pg_stats, or None if one has none."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return None
    uses, fixed, rels = uses_of(tree)
    wanted = {int(m) for m in _PARAM.findall(text)}
    values: dict[int, str] = {}
    for number in sorted(wanted):
        if number in fixed:
            values[number] = fixed[number]
            continue
        if number not in uses:
            return None
        value = await _value(conn, uses[number], rels)
        if value is None:
            return None
        values[number] = value
    return _PARAM.sub(lambda m: sqltext.quote_literal(values[int(m.group(1))]), text)


async def choose(conn: asyncpg.Connection, text: str, wanted: ParamMode) -> tuple[ParamMode, str]:
    """The parameter mode for a statement with `$n` parameters, and the SQL to plan.

    pg_stats values are preferred (generic plans undervalue range predicates); the generic
    plan is the fallback, or what the caller asked for.
    """
    if wanted != ParamMode.GENERIC:
        sql = await substitute(conn, text)
        if sql is not None:
            return ParamMode.PG_STATS, sql
    return ParamMode.GENERIC, text
