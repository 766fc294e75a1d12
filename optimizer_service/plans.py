"""Reading EXPLAIN (VERBOSE, FORMAT JSON) plans: which columns a query filters, joins,
sorts and groups on, per table, and which indexes a plan uses.

Plans are used rather than the query text because they have already resolved aliases,
views, CTEs and subqueries to real tables; the expressions in them are parsed with pglast.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pglast
from pglast import ast, enums

from optimizer_service.model import Table
from pgsage import sqlcheck

_EQ_OPS = {"="}
_RANGE_OPS = {"<", ">", "<=", ">=", "~~", "~>=~", "~<=~", "~>~", "~<~"}
_SUBPLAN = re.compile(r"\(alternatives: [^()]*\)|(hashed )?SubPlan \d+|\(InitPlan \d+\)\.col\d+")
_QUALIFIED = re.compile(r"\b([A-Za-z_][A-Za-z0-9_$]*)\.([A-Za-z_][A-Za-z0-9_$]*)\b")
_EXPR_KEYS = ("Filter", "Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond", "Join Filter")


@dataclass
class ColumnUse:
    """How one query uses the columns of one table."""

    eq: set[str] = field(default_factory=set)
    range: set[str] = field(default_factory=set)
    join: set[str] = field(default_factory=set)
    orders: list[tuple[str, ...]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)

    @property
    def indexable(self) -> set[str]:
        """Columns an index could usefully lead with."""
        return self.eq | self.range | self.join | {o[0] for o in self.orders}


@dataclass
class PlanFacts:
    """What one plan says about the query: tables, column use, cost, indexes used."""

    cost: float
    tables: set[Table] = field(default_factory=set)
    uses: dict[Table, ColumnUse] = field(default_factory=dict)
    indexes_used: set[str] = field(default_factory=set)
    modified: Table | None = None
    operation: str = ""


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan tree, depth first."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def root(explain_json: Any) -> dict[str, Any]:
    """The top plan node of an EXPLAIN (FORMAT JSON) result."""
    doc = explain_json[0] if isinstance(explain_json, list) else explain_json
    return doc["Plan"]


def indexes_used(plan: dict[str, Any]) -> set[str]:
    return {n["Index Name"] for n in nodes(plan) if "Index Name" in n}


def _column(node: Any, aliases: dict[str, Table]) -> tuple[Table, str] | None:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.ColumnRef) and node.fields and len(node.fields) == 2:
        alias, col = node.fields
        if isinstance(alias, ast.String) and isinstance(col, ast.String):
            table = aliases.get(alias.sval or "")
            if table is not None and col.sval:
                return table, col.sval
    return None


def _columns_in(node: Any, aliases: dict[str, Table]) -> Iterator[tuple[Table, str]]:
    for n in sqlcheck.walk(node):
        found = _column(n, aliases) if isinstance(n, ast.ColumnRef) else None
        if found:
            yield found


def _is_constant(node: Any, aliases: dict[str, Table]) -> bool:
    return not any(True for _ in _columns_in(node, aliases))


class _Collector:
    def __init__(self, facts: PlanFacts, aliases: dict[str, Table]) -> None:
        self.facts = facts
        self.aliases = aliases

    def use(self, table: Table) -> ColumnUse:
        return self.facts.uses.setdefault(table, ColumnUse())

    def mark(self, kind: str, found: tuple[Table, str] | None) -> None:
        if found is None:
            return
        table, col = found
        use = self.use(table)
        use.used.add(col)
        getattr(use, kind).add(col)

    def expr(self, node: Any) -> None:
        if isinstance(node, ast.BoolExpr):
            for arg in node.args or ():
                self.expr(arg)
            return
        if isinstance(node, ast.NullTest):
            self.mark("eq", _column(node.arg, self.aliases))
        elif isinstance(node, ast.A_Expr):
            self._comparison(node)
        for table, col in _columns_in(node, self.aliases):
            self.use(table).used.add(col)

    def _comparison(self, node: ast.A_Expr) -> None:
        op = node.name[-1].sval if node.name else ""
        kind = node.kind
        left = _column(node.lexpr, self.aliases)
        right = _column(node.rexpr, self.aliases) if not isinstance(node.rexpr, tuple) else None
        if kind == enums.A_Expr_Kind.AEXPR_BETWEEN:
            self.mark("range", left)
            return
        if kind in (enums.A_Expr_Kind.AEXPR_OP_ANY, enums.A_Expr_Kind.AEXPR_IN) and op == "=":
            self.mark("eq", left)
            return
        if kind != enums.A_Expr_Kind.AEXPR_OP:
            return
        if left and right and left[0] != right[0]:
            if op in _EQ_OPS:
                self.mark("join", left)
                self.mark("join", right)
            return
        for side, other in ((left, node.rexpr), (right, node.lexpr)):
            if side and _is_constant(other, self.aliases):
                if op in _EQ_OPS:
                    self.mark("eq", side)
                elif op in _RANGE_OPS:
                    self.mark("range", side)

    def keys(self, exprs: list[str]) -> None:
        ordered: list[str] = []
        table: Table | None = None
        for text in exprs:
            parsed = _parse_expr(text.removesuffix(" DESC").removesuffix(" NULLS FIRST"))
            found = _column(parsed, self.aliases) if parsed is not None else None
            if found is None or (table is not None and found[0] != table):
                break
            table = found[0]
            if found[1] not in ordered:
                ordered.append(found[1])
        if table is not None and ordered:
            use = self.use(table)
            use.used.update(ordered)
            if tuple(ordered) not in use.orders:
                use.orders.append(tuple(ordered))


def _parse_expr(text: str) -> Any | None:
    cleaned = _SUBPLAN.sub("NULL", text)
    try:
        stmt = pglast.parse_sql(f"SELECT {cleaned}")[0].stmt
    except pglast.parser.ParseError:
        return None
    if not isinstance(stmt, ast.SelectStmt) or not stmt.targetList:
        return None
    return stmt.targetList[0].val


def facts(explain_json: Any) -> PlanFacts:
    """Reads a VERBOSE JSON plan into PlanFacts."""
    top = root(explain_json)
    result = PlanFacts(cost=float(top["Total Cost"]))
    aliases: dict[str, Table] = {}
    for node in nodes(top):
        if "Relation Name" in node and "Schema" in node:
            table = Table(node["Schema"], node["Relation Name"])
            aliases[node.get("Alias", node["Relation Name"])] = table
            if node.get("Node Type") == "ModifyTable":
                result.modified = table
                result.operation = node.get("Operation", "")
            else:
                result.tables.add(table)
    result.indexes_used = indexes_used(top)
    collector = _Collector(result, aliases)
    for node in nodes(top):
        for key in _EXPR_KEYS:
            text = node.get(key)
            if not text:
                continue
            parsed = _parse_expr(text)
            if parsed is not None:
                collector.expr(parsed)
            else:
                for alias, col in _QUALIFIED.findall(text):
                    if alias in aliases:
                        collector.use(aliases[alias]).used.add(col)
        for key in ("Sort Key", "Group Key", "Presorted Key"):
            if node.get(key):
                collector.keys(node[key])
        # Scans below the top often output the whole row (a physical target list), so
        # what a query really needs is read from the nodes above them.
        is_scan = "Relation Name" in node and node.get("Node Type") != "ModifyTable"
        if node is top or not is_scan:
            for out in node.get("Output", ()):
                for alias, col in _QUALIFIED.findall(out):
                    if alias in aliases:
                        collector.use(aliases[alias]).used.add(col)
    for table in result.tables:
        result.uses.setdefault(table, ColumnUse())
    return result


def lift(facts: PlanFacts, roots: dict[Table, Table]) -> PlanFacts:
    """The same facts with every partition replaced by its partitioned root table (`roots`:
    partition → root): an index for a partitioned table is suggested, priced and built on
    the table a DBA names, once, not on each partition a plan happened to scan."""
    if not roots or not any(t in roots for t in facts.tables | set(facts.uses)):
        return facts

    def up(table: Table) -> Table:
        return roots.get(table, table)

    uses: dict[Table, ColumnUse] = {}
    for table, use in facts.uses.items():
        merged = uses.setdefault(up(table), ColumnUse())
        merged.eq |= use.eq
        merged.range |= use.range
        merged.join |= use.join
        merged.used |= use.used
        merged.orders.extend(o for o in use.orders if o not in merged.orders)
    return PlanFacts(
        cost=facts.cost,
        tables={up(t) for t in facts.tables},
        uses=uses,
        indexes_used=facts.indexes_used,
        modified=up(facts.modified) if facts.modified is not None else None,
        operation=facts.operation,
    )
