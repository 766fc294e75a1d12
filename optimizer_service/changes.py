"""The statement an Apply, Rollback or Benchmark will run, checked exactly like
ValidateStatement before anything reaches the target.

Injected SQL never runs: the text must pass `pgsage.sqlcheck.check_index_statement` (the
job service's rules) as exactly one allowed statement on an existing table, and what runs
is the validator's normalised rendering of that one statement, never the caller's text.
Two cases differ from an edit-time check, because a retried or taken-over call must be able
to find its own work already done:

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

from optimizer_service import errors, sqltext, targets, validation
from optimizer_service.model import Kind
from optimizer_service.settings import Settings, TargetConfig
from pgsage import errors as pgsage_errors
from pgsage import sqlcheck
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


async def _validate(
    settings: Settings, target: TargetConfig, sql: str, expected: Kind, field: str
) -> pb.ValidateStatementResponse:
    request = pb.ValidateStatementRequest(
        target=target.name, sql=sql, expected_kind=advice_pb2.AdviceKind.ValueType(expected)
    )
    try:
        return await validation.validate(settings, request, existing_ok=True)
    except (errors.InvalidStatement, sqlcheck.StatementNotAllowed) as exc:
        raise errors.InvalidStatement(exc.message, field=field) from None


async def _absent_index(settings: Settings, target: TargetConfig, name: str) -> bool:
    async with targets.session(target, connect_timeout=settings.connect_timeout_seconds) as conn:
        return bool(await conn.fetchval("SELECT to_regclass($1) IS NULL", name))


async def prepare(
    settings: Settings, target: TargetConfig, sql: str, expected: Kind, field: str = "sql"
) -> Change:
    """Validates `sql` against `target` and returns what will run (see the module doc)."""
    if not sql.strip():
        raise pgsage_errors.InvalidArgument(field, f"{field} is required")
    text = sqlcheck.check_index_statement(sql, field=field)
    if text.action == "drop" and await _absent_index(settings, target, text.qualified_index):
        schema = text.index_schema or ""
        return Change(
            Action.DROP,
            schema=schema,
            table="",
            index=text.index,
            sql=sqltext.drop_sql(schema, text.index) if schema else "",
            undo_sql="",
            absent=True,
        )
    checked = await _validate(settings, target, sql, expected, field)
    schema = checked.table.split(".", 1)[0]
    if checked.kind == Kind.CREATE_INDEX:
        # What runs is the validator's rendering, held to the same rules as the text.
        normal = sqlcheck.check_index_statement(checked.normalized_sql, field=field)
        return Change(
            Action.CREATE,
            schema,
            checked.table,
            checked.index_name,
            normal.normalized,
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
