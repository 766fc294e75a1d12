"""The statement an Apply, Rollback or Benchmark will run, checked exactly like
ValidateStatement before anything reaches the target.

Injected SQL never runs: the text must parse (pglast) as exactly one allowed statement on
an existing table, and what runs is the validator's normalised rendering of that one
statement, never the caller's text. Two cases differ from an edit-time check, because a
retried or taken-over call must be able to find its own work already done:

- a `CREATE INDEX CONCURRENTLY name ...` whose index already exists is accepted here (the
  caller then looks at pg_index: valid means done, invalid means drop and rebuild);
- a `DROP INDEX CONCURRENTLY` of an index that no longer exists is accepted as already done.

`IF NOT EXISTS` is refused (an index of that name that is already there, a DBA's say, would
count as built); an index may run only built-in immutable routines, as the target's catalog
resolves them (`guard.check_index`), since a user function marked IMMUTABLE could do
anything while the build evaluates it on every row.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pglast
from pglast import ast, enums
from pglast.stream import RawStream

from optimizer_service import errors, sqltext, targets, validation
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
    resolved: str = ""  # a create: the index as the catalog resolves it (`guard.body`)


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
        return await validation.validate(settings, request, existing_ok=True)
    except errors.InvalidStatement as exc:
        raise errors.InvalidStatement(exc.message, field=field) from None


async def _absent_index(settings: Settings, target: TargetConfig, parts: list[str]) -> bool:
    name = ".".join(sqltext.quote_ident(p) for p in parts)
    async with targets.session(target, connect_timeout=settings.connect_timeout_seconds) as conn:
        return bool(await conn.fetchval("SELECT to_regclass($1) IS NULL", name))


async def prepare(
    settings: Settings, target: TargetConfig, sql: str, expected: Kind, field: str = "sql"
) -> Change:
    """Validates `sql` against `target` and returns what will run (see the module doc)."""
    if not sql.strip():
        raise pgsage_errors.InvalidArgument(field, f"{field} is required")
    stmt = _one(sql)
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
    checked = await _validate(settings, target, sql, expected, field)
    schema = checked.table.split(".", 1)[0]
    if checked.kind == Kind.CREATE_INDEX:
        normal = _one(checked.normalized_sql)
        assert isinstance(normal, ast.IndexStmt) and not normal.if_not_exists
        return Change(
            Action.CREATE,
            schema,
            checked.table,
            checked.index_name,
            RawStream()(normal),
            checked.rollback_sql,
            resolved=checked.resolved_definition,
        )
    return Change(
        Action.DROP,
        schema,
        checked.table,
        checked.index_name,
        checked.normalized_sql,
        checked.rollback_sql,
    )
