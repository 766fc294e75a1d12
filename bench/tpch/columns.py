"""Indexable columns of each query: the columns it uses in WHERE, JOIN, ORDER BY and GROUP BY.

Queries are parsed with pglast. Every SELECT of a query (subqueries and CTEs included) adds the
column references found in its WHERE clause, the ON conditions of its joins, its GROUP BY and
its ORDER BY, without descending into nested SELECTs (they are visited on their own). A
reference is resolved to a table through the aliases of the query, or, when unqualified, to the
one table of the query that has a column of that name; names that are no table's column
(output aliases such as `revenue`, CTE columns) are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import pglast
from pglast import ast


@dataclass(frozen=True, order=True)
class Column:
    """A column of a table in the `public` schema."""

    table: str
    name: str


Catalog = dict[str, frozenset[str]]


async def catalog(conn: asyncpg.Connection) -> Catalog:
    """Columns of every ordinary table in `public`, by table name."""
    rows = await conn.fetch(
        "SELECT c.relname, a.attname FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped"
    )
    tables: dict[str, set[str]] = {}
    for r in rows:
        tables.setdefault(r["relname"], set()).add(r["attname"])
    return {t: frozenset(cols) for t, cols in tables.items()}


def _children(node: object) -> Iterator[object]:
    if isinstance(node, list | tuple):
        yield from node
    elif isinstance(node, ast.Node):
        for slot in type(node).__slots__:
            value = getattr(node, slot, None)
            if isinstance(value, ast.Node | list | tuple):
                yield value


def walk(node: object, *, into_selects: bool = True) -> Iterator[ast.Node]:
    """Every node under `node`; with `into_selects=False`, nested SELECTs are not entered."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Node):
            yield current
            if not into_selects and isinstance(current, ast.SelectStmt) and current is not node:
                continue
        stack.extend(_children(current))


def _clauses(select: ast.SelectStmt) -> Iterator[object]:
    """The parts of one SELECT whose columns an index can serve."""
    yield select.whereClause
    yield select.groupClause
    yield select.sortClause
    for node in walk(select.fromClause, into_selects=False):
        if isinstance(node, ast.JoinExpr):
            yield node.quals


class _Scope:
    """The tables a query reads, and the names (aliases) it gives them."""

    def __init__(self, tree: object, tables: Catalog) -> None:
        self.tables = tables
        self.aliases: dict[str, str] = {}
        self.used: set[str] = set()
        for node in walk(tree):
            if isinstance(node, ast.RangeVar) and node.relname in tables:
                self.used.add(node.relname)
                self.aliases[node.alias.aliasname if node.alias else node.relname] = node.relname

    def columns_in(self, part: object, *, into_selects: bool = False) -> set[Column]:
        """Resolved column references under `part` (nested SELECTs only if `into_selects`)."""
        found = set()
        for node in walk(part, into_selects=into_selects):
            if isinstance(node, ast.ColumnRef):
                names = [f.sval for f in node.fields if isinstance(f, ast.String)]
                column = _resolve(names, self.aliases, self.used, self.tables) if names else None
                if column is not None:
                    found.add(column)
        return found


def indexable_columns(sql: str, tables: Catalog) -> frozenset[Column]:
    """The columns of `sql` used in WHERE, JOIN, ORDER BY and GROUP BY (see module docstring)."""
    tree = pglast.parse_sql(sql)
    scope = _Scope(tree, tables)
    found: set[Column] = set()
    for select in (n for n in walk(tree) if isinstance(n, ast.SelectStmt)):
        for clause in _clauses(select):
            found |= scope.columns_in(clause)
    return frozenset(found)


def referenced_columns(sql: str, tables: Catalog) -> frozenset[Column]:
    """Every column `sql` refers to, anywhere (an index on none of them cannot serve it)."""
    tree = pglast.parse_sql(sql)
    return frozenset(_Scope(tree, tables).columns_in(tree, into_selects=True))


def _resolve(
    names: list[str], aliases: dict[str, str], used: set[str], tables: Catalog
) -> Column | None:
    name = names[-1]
    if len(names) >= 2:
        table = aliases.get(names[-2])
        return Column(table, name) if table and name in tables[table] else None
    owners = [t for t in sorted(used) if name in tables[t]]
    return Column(owners[0], name) if len(owners) == 1 else None
