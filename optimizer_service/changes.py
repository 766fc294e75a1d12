"""The statement an Apply, Rollback or Benchmark will run, checked exactly like
ValidateStatement before anything reaches the target.

Injected SQL never runs: the text must parse (pglast) as exactly one allowed statement on
an existing table, and what runs is the validator's normalised rendering of that one
statement, never the caller's text. Two cases differ from an edit-time check, because a
retried or taken-over call must be able to find its own work already done:

- a `CREATE INDEX CONCURRENTLY name ...` whose index already exists is accepted here (the
  caller then looks at pg_index: valid means done, invalid means drop and rebuild);
- a `DROP INDEX CONCURRENTLY` of an index that no longer exists is accepted as already done.

One check is stricter than an edit-time one: an index about to be built may call only
built-in (pg_catalog) functions and operators (PostgreSQL itself insists they are
IMMUTABLE), since a user function marked IMMUTABLE could still do anything while the build
evaluates it on every row.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

from optimizer_service import errors, sqltext, sqlwalk, targets, validation
from optimizer_service.model import Kind
from optimizer_service.settings import Settings, TargetConfig
from pgsage import errors as pgsage_errors
from pgsage.optimizer.v1 import advice_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb


class Action(enum.Enum):
    CREATE = "create"
    DROP = "drop"


@dataclass(frozen=True)
class Change:
    """One validated index statement, ready to run."""

    action: Action
    schema: str  # of the index (and its table)
    table: str  # schema.table, empty for a drop of an index that is already gone
    index: str
    sql: str  # the normalised statement that will run
    undo_sql: str
    absent: bool = False  # a drop whose index is already gone


def _one(sql: str) -> ast.Node | None:
    try:
        stmts = pglast.parse_sql(sql)
    except pglast.parser.ParseError:
        return None
    return stmts[0].stmt if len(stmts) == 1 else None


def _plain_drop(stmt: ast.Node) -> list[str] | None:
    """The name parts of a well-formed `DROP INDEX CONCURRENTLY one_index`, else None."""
    if not isinstance(stmt, ast.DropStmt) or stmt.removeType != enums.ObjectType.OBJECT_INDEX:
        return None
    if not stmt.concurrent or not stmt.objects or len(stmt.objects) != 1:
        return None
    if stmt.behavior == enums.DropBehavior.DROP_CASCADE:
        return None
    return [p.sval for p in stmt.objects[0]]


async def _validate(
    settings: Settings, target: TargetConfig, sql: str, expected: Kind, field: str
) -> pb.ValidateStatementResponse:
    request = pb.ValidateStatementRequest(
        target=target.name, sql=sql, expected_kind=advice_pb2.AdviceKind.ValueType(expected)
    )
    try:
        return await validation.validate(settings, request)
    except errors.InvalidStatement as exc:
        raise errors.InvalidStatement(exc.message, field=field) from None


# True when a name (in the given schema, or on the search path) is unknown or belongs to
# anything outside pg_catalog. Volatility is PostgreSQL's own check: it refuses an index
# whose resolved function is not IMMUTABLE before it evaluates anything (and an overload
# that is not immutable, such as date_trunc on timestamptz, must not refuse one that is).
_BAD_FUNCTION = """
SELECT count(*) = 0 OR bool_or(n.nspname <> 'pg_catalog')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = $1 AND n.nspname = ANY(COALESCE($2::text[], current_schemas(true)::text[]))
"""
_BAD_OPERATOR = """
SELECT count(*) = 0 OR bool_or(n.nspname <> 'pg_catalog')
FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
WHERE o.oprname = $1 AND n.nspname = ANY(COALESCE($2::text[], current_schemas(true)::text[]))
"""


def _routines(stmt: ast.IndexStmt) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """The functions and operators the index's expressions and predicate call."""
    funcs: set[tuple[str, ...]] = set()
    ops: set[tuple[str, ...]] = set()
    exprs = [e.expr for e in stmt.indexParams or () if e.expr is not None]
    for node in sqlwalk.nodes([*exprs, stmt.whereClause]):
        if isinstance(node, ast.FuncCall) and node.funcname:
            funcs.add(tuple(p.sval for p in node.funcname))
        if isinstance(node, ast.A_Expr) and node.name:
            ops.add(tuple(p.sval for p in node.name))
    return funcs, ops


async def _builtin_only(
    settings: Settings, target: TargetConfig, stmt: ast.IndexStmt, field: str
) -> None:
    """Refuses an index whose expressions call anything but built-in immutable routines.

    An index build evaluates its expressions on every row; a user-defined function, even
    one marked IMMUTABLE, could do anything there. Built-in (pg_catalog) ones cannot.
    """
    funcs, ops = _routines(stmt)
    if not funcs and not ops:
        return
    checks = [(_BAD_FUNCTION, "function", name) for name in sorted(funcs)]
    checks += [(_BAD_OPERATOR, "operator", name) for name in sorted(ops)]
    async with targets.session(target, connect_timeout=settings.connect_timeout_seconds) as conn:
        for query, what, name in checks:
            if await conn.fetchval(query, name[-1], list(name[:-1]) or None):
                raise errors.InvalidStatement(
                    f"{what} {pgsage_errors.cap('.'.join(name), 100)} is not built in "
                    f"(pg_catalog); an index may only use built-in {what}s",
                    field=field,
                )


async def _absent_index(settings: Settings, target: TargetConfig, parts: list[str]) -> bool:
    name = ".".join(sqltext.quote_ident(p) for p in parts)
    async with targets.session(target, connect_timeout=settings.connect_timeout_seconds) as conn:
        return bool(await conn.fetchval("SELECT to_regclass($1) IS NULL", name))


def _plain_shape(sql: str) -> tuple[object, ...] | None:
    """Access method, key and INCLUDE columns and predicate of an index statement made of
    plain columns only; None when it has expressions (their rendering may differ)."""
    stmt = _one(sql)
    if not isinstance(stmt, ast.IndexStmt):
        return None
    params = [*(stmt.indexParams or ()), *(stmt.indexIncludingParams or ())]
    if any(p.expr is not None for p in params):
        return None
    return (
        stmt.accessMethod,
        tuple(p.name for p in stmt.indexParams or ()),
        tuple(p.name for p in stmt.indexIncludingParams or ()),
        stmt.whereClause is None,
    )


def differs(indexdef: str, sql: str) -> bool:
    """Whether an existing index (pg_get_indexdef) is surely not what `sql` would build.

    Only indexes of plain columns are compared; for expressions the answer is False, since
    PostgreSQL may render an expression differently (casts) from how it was written.
    """
    existing, wanted = _plain_shape(indexdef), _plain_shape(sql)
    return existing is not None and wanted is not None and existing != wanted


async def prepare(
    settings: Settings, target: TargetConfig, sql: str, expected: Kind, field: str = "sql"
) -> Change:
    """Validates `sql` against `target` and returns what will run (see the module doc)."""
    if not sql.strip():
        raise pgsage_errors.InvalidArgument(field, f"{field} is required")
    stmt = _one(sql)
    probe = sql
    if isinstance(stmt, ast.IndexStmt) and stmt.idxname and stmt.concurrent:
        stmt.if_not_exists = True  # an existing index is judged from pg_index, not refused
        probe = RawStream()(stmt)
    parts = _plain_drop(stmt) if stmt is not None else None
    if parts is not None and await _absent_index(settings, target, parts):
        schema = parts[0] if len(parts) == 2 else ""
        return Change(
            Action.DROP,
            schema=schema,
            table="",
            index=parts[-1],
            sql=sqltext.drop_sql(schema, parts[-1]) if schema else "",
            undo_sql="",
            absent=True,
        )
    checked = await _validate(settings, target, probe, expected, field)
    schema = checked.table.split(".", 1)[0]
    if checked.kind == Kind.CREATE_INDEX:
        normal = _one(checked.normalized_sql)
        assert isinstance(normal, ast.IndexStmt)
        await _builtin_only(settings, target, normal, field)
        normal.if_not_exists = False  # the catalog check decides, the build must really build
        return Change(
            Action.CREATE,
            schema,
            checked.table,
            checked.index_name,
            RawStream()(normal),
            checked.rollback_sql,
        )
    return Change(
        Action.DROP,
        schema,
        checked.table,
        checked.index_name,
        checked.normalized_sql,
        checked.rollback_sql,
    )
