"""Workload queries a caller supplies: exactly what pgsage agrees to plan or run on a target.

Accepted is exactly one SELECT, INSERT, UPDATE or DELETE (writes are planned, and run by a
benchmark only inside a transaction that is rolled back, on a sandbox or scratch copy), in
which:

- every WITH query is a SELECT: a data-modifying CTE writes even under a SELECT;
- there is no `SELECT INTO` (it creates a table) and no `FOR UPDATE/SHARE` (row locks on a
  production table, for a query that only needs to be planned);
- every function, type and operator is on the allow-lists of `pgsage.sqlcheck.allow`
  (unqualified or `pg_catalog.`): built-in, non-volatile, and exposing no data, file,
  setting or session (`query_to_xml`, `pg_read_file`, `current_setting`, `dblink`,
  `pg_sleep`, `pg_terminate_backend`, `nextval`, `random`, `::regclass` are all refused);
- no relation of `pg_catalog`, `information_schema` or named `pg_*` is read, and no
  `CURRENT_USER`-like value; `$n` parameters are fine;
- every node is of a kind ordinary queries are made of: unknown syntax (XML, SQL/JSON
  constructors, column definition lists, ...) is refused rather than trusted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pglast
from pglast import ast, enums

from pgsage import errors
from pgsage.sqlcheck import allow

MAX_QUERY_LENGTH = 100_000


class QueryNotAllowed(errors.InvalidArgument):
    """A caller-supplied query pgsage will not plan or run; `rule` says which rule."""

    default_reason = "QUERY_NOT_ALLOWED"

    def __init__(self, field: str, rule: str, why: str, obj: str = "") -> None:
        metadata = {"rule": rule, **({"object": errors.cap(obj, 100)} if obj else {})}
        super().__init__(field, f"{field}: {why}", metadata=metadata)
        self.rule = rule


# What ordinary workload queries are made of; any other node is refused.
_NODES: frozenset[type] = frozenset(
    {
        ast.SelectStmt,
        ast.ResTarget,
        ast.ColumnRef,
        ast.A_Star,
        ast.A_Const,
        ast.Integer,
        ast.Float,
        ast.String,
        ast.Boolean,
        ast.BitString,
        ast.A_Expr,
        ast.BoolExpr,
        ast.NullTest,
        ast.BooleanTest,
        ast.SubLink,
        ast.CaseExpr,
        ast.CaseWhen,
        ast.CoalesceExpr,
        ast.MinMaxExpr,
        ast.RowExpr,
        ast.A_ArrayExpr,
        ast.A_Indirection,
        ast.A_Indices,
        ast.FuncCall,
        ast.NamedArgExpr,
        ast.SQLValueFunction,
        ast.TypeCast,
        ast.TypeName,
        ast.CollateClause,
        ast.ParamRef,
        ast.RangeVar,
        ast.JoinExpr,
        ast.RangeSubselect,
        ast.RangeFunction,
        ast.RangeTableSample,
        ast.Alias,
        ast.SortBy,
        ast.WindowDef,
        ast.GroupingSet,
        ast.GroupingFunc,
        ast.WithClause,
        ast.CommonTableExpr,
        ast.CTESearchClause,
        ast.CTECycleClause,
        ast.OnConflictClause,
        ast.InferClause,
        ast.IndexElem,
        ast.MultiAssignRef,
        ast.SetToDefault,
        ast.ReturningClause,
    }
)
_TOP = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)
_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)
_OP = enums.SQLValueFunctionOp
_TIME_VALUES = frozenset(
    {
        _OP.SVFOP_CURRENT_DATE,
        _OP.SVFOP_CURRENT_TIME,
        _OP.SVFOP_CURRENT_TIME_N,
        _OP.SVFOP_CURRENT_TIMESTAMP,
        _OP.SVFOP_CURRENT_TIMESTAMP_N,
        _OP.SVFOP_LOCALTIME,
        _OP.SVFOP_LOCALTIME_N,
        _OP.SVFOP_LOCALTIMESTAMP,
        _OP.SVFOP_LOCALTIMESTAMP_N,
    }
)
_BETWEEN = frozenset(
    {
        enums.A_Expr_Kind.AEXPR_BETWEEN,
        enums.A_Expr_Kind.AEXPR_NOT_BETWEEN,
        enums.A_Expr_Kind.AEXPR_BETWEEN_SYM,
        enums.A_Expr_Kind.AEXPR_NOT_BETWEEN_SYM,
    }
)
_SAMPLE_METHODS = frozenset({"bernoulli", "system"})


def walk(tree: object) -> Iterator[ast.Node]:
    """Every pglast node under `tree` (a node, or a tuple or list of them), parents first.

    Iterative: `1+1+...+1` nests thousands deep, past Python's recursion limit.
    """
    stack: list[object] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            yield item
            stack.extend(reversed([getattr(item, attr) for attr in item]))
        elif isinstance(item, tuple | list):
            stack.extend(reversed(item))


def _names(parts: Sequence[object] | None) -> list[str]:
    return [p.sval for p in parts or () if isinstance(p, ast.String) and p.sval is not None]


def _listed(parts: list[str], allowed: frozenset[str]) -> bool:
    """Whether a name, unqualified or `pg_catalog.`-qualified, is on an allow-list."""
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[0] != "pg_catalog"):
        return False
    return parts[-1].lower() in allowed


def check_query(sql: str, *, field: str) -> None:
    """Raises `QueryNotAllowed` naming `field` unless `sql` is one allowed workload query."""
    if not sql.strip() or len(sql) > MAX_QUERY_LENGTH:
        raise QueryNotAllowed(
            field, "LENGTH", f"a query is non-empty and at most {MAX_QUERY_LENGTH} characters"
        )
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        raise QueryNotAllowed(
            field, "PARSE_ERROR", f"not valid SQL ({errors.cap(exc, 120)})"
        ) from None
    if len(statements) != 1:
        raise QueryNotAllowed(
            field, "ONE_STATEMENT", f"exactly one statement is allowed, found {len(statements)}"
        )
    top = statements[0].stmt
    if not isinstance(top, _TOP):
        kind = type(top).__name__.removesuffix("Stmt")
        raise QueryNotAllowed(
            field,
            "STATEMENT_KIND",
            f"only SELECT, INSERT, UPDATE or DELETE is allowed, not {kind}",
            kind,
        )
    for node in walk(top):
        _check(node, top, field)


def check_queries(queries: Sequence[str], *, field: str = "job.queries") -> None:
    """Checks every query; the first refused one is named `field[i]`."""
    for i, sql in enumerate(queries):
        check_query(sql, field=f"{field}[{i}]")


def _check(node: ast.Node, top: ast.Node, field: str) -> None:
    def refuse(rule: str, why: str, obj: str = "") -> QueryNotAllowed:
        return QueryNotAllowed(field, rule, why, obj)

    if isinstance(node, _WRITES):
        if node is not top:
            raise refuse("DATA_MODIFYING_CTE", "INSERT, UPDATE or DELETE only as the statement")
        return
    if type(node) not in _NODES:
        name = type(node).__name__
        raise refuse("SYNTAX_NOT_ALLOWED", f"{name} is not allowed in a workload query", name)
    if isinstance(node, ast.SelectStmt):
        if node.intoClause is not None:
            raise refuse("SELECT_INTO", "SELECT INTO creates a table; it is not allowed")
        if node.lockingClause:
            raise refuse("ROW_LOCKING", "FOR UPDATE/SHARE takes row locks; it is not allowed")
    elif isinstance(node, ast.CommonTableExpr):
        if not isinstance(node.ctequery, ast.SelectStmt):
            raise refuse("DATA_MODIFYING_CTE", "a WITH query must be a SELECT", node.ctename or "")
    elif isinstance(node, ast.FuncCall):
        parts = _names(node.funcname)
        if not _listed(parts, allow.FUNCTIONS):
            name = ".".join(parts)
            raise refuse(
                "FUNCTION_NOT_ALLOWED",
                f"function {errors.cap(name, 100)} is not one of the built-in, side-effect-free "
                "functions a workload query may call",
                name,
            )
    elif isinstance(node, ast.TypeName):
        parts = _names(node.names)
        if node.setof or node.pct_type or not _listed(parts, allow.TYPES):
            name = ".".join(parts)
            raise refuse(
                "TYPE_NOT_ALLOWED", f"type {errors.cap(name, 100)} is not an allowed type", name
            )
    elif isinstance(node, ast.A_Expr):
        parts = _names(node.name)
        if node.kind not in _BETWEEN and not _listed(parts, allow.OPERATORS):
            name = ".".join(parts)
            raise refuse("OPERATOR_NOT_ALLOWED", f"operator {name} is not allowed", name)
    elif isinstance(node, ast.SQLValueFunction):
        if node.op not in _TIME_VALUES:
            name = node.op.name.removeprefix("SVFOP_") if node.op else "?"
            raise refuse(
                "SESSION_VALUE", f"{name} exposes the session's identity; it is not allowed", name
            )
    elif isinstance(node, ast.RangeVar):
        _check_relation(node, field)
    elif isinstance(node, ast.RangeTableSample):
        if not _listed(_names(node.method), _SAMPLE_METHODS):
            raise refuse("SYNTAX_NOT_ALLOWED", "TABLESAMPLE takes BERNOULLI or SYSTEM only")


def _check_relation(node: ast.RangeVar, field: str) -> None:
    name = ".".join(p for p in (node.catalogname, node.schemaname, node.relname) if p)
    schema = (node.schemaname or "").lower()
    relname = (node.relname or "").lower()
    if node.catalogname:
        raise QueryNotAllowed(field, "RELATION_NOT_ALLOWED", "name a table as schema.table", name)
    if schema in allow.CATALOG_SCHEMAS or schema.startswith("pg_") or relname.startswith("pg_"):
        raise QueryNotAllowed(
            field,
            "CATALOG_READ",
            f"{errors.cap(name, 100)} is a system catalog or view; a workload query reads "
            "the application's tables only",
            name,
        )
