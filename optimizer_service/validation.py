"""ValidateStatement: an edited statement checked against the target before anyone runs it.

The text's rules are `pgsage.sqlcheck.check_index_statement`, the job service's own: one
`CREATE INDEX CONCURRENTLY name ON table ...` (expressions, partial, INCLUDE fine; named, no
UNIQUE, no TABLESPACE, no IF NOT EXISTS) or one `DROP INDEX CONCURRENTLY name` (no CASCADE).
This module adds only what the target's catalog can tell: the table and its columns exist,
the index runs only built-in immutable functions, operators, casts, types, collations and
operator classes as the catalog resolves them (`guard.check_index`), a dropped index exists
and backs no primary key, unique or other constraint. The answer carries the statement
normalised (schema-qualified) and the SQL that undoes it.
"""

from __future__ import annotations

import asyncpg
from pglast import ast
from pglast.stream import RawStream

from optimizer_service import errors, guard, sqltext, targets
from optimizer_service.model import Kind, Table
from optimizer_service.settings import Settings, TargetConfig
from pgsage import errors as pgsage_errors
from pgsage import sqlcheck
from pgsage.optimizer.v1 import advice_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb

DROP_KINDS = {Kind.DROP_UNUSED_INDEX, Kind.DROP_DUPLICATE_INDEX}


def _parse(sql: str) -> sqlcheck.IndexStatement:
    """The text's rules are the job service's (`pgsage.sqlcheck`): one rule set, so an edit
    the job service stores is one this RPC accepts as text, and the other way round."""
    if not sql.strip():
        raise pgsage_errors.InvalidArgument("sql", "sql is required")
    return sqlcheck.check_index_statement(sql, field="sql")


def _columns_in(node: object) -> set[str]:
    return {
        last.sval
        for n in sqlcheck.walk(node)
        if isinstance(n, ast.ColumnRef)
        and n.fields
        and isinstance(last := n.fields[-1], ast.String)
        and last.sval
    }


def _functions_in(node: object) -> set[str]:
    """Names of the functions a node calls (schema-qualified when the SQL says so)."""
    return {
        ".".join(p.sval or "" for p in n.funcname or () if isinstance(p, ast.String))
        for n in sqlcheck.walk(node)
        if isinstance(n, ast.FuncCall)
    }


async def _check_immutable(conn: asyncpg.Connection, functions: set[str]) -> None:
    """Index expressions and predicates may call IMMUTABLE functions only: anything else
    could run side effects on the target (or make the index wrong). A name is accepted when
    one of its overloads is immutable (`date_trunc` has a stable one for timestamptz)."""
    for name in sorted(functions):
        schema, _, proname = name.rpartition(".")
        volatilities = await conn.fetch(
            "SELECT DISTINCT p.provolatile::text AS v FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname = $1 AND ($2 = '' OR n.nspname = $2)",
            proname,
            schema,
        )
        if not volatilities:
            raise errors.InvalidStatement(
                f"function {pgsage_errors.cap(name, 100)} does not exist on the target"
            )
        # PostgreSQL resolves the overload by argument types and refuses a non-immutable
        # one before building anything; here a name with no immutable overload at all is
        # refused outright (and Apply further allows built-in functions only).
        if all(r["v"] != "i" for r in volatilities):
            raise errors.InvalidStatement(
                f"function {pgsage_errors.cap(name, 100)} is not IMMUTABLE; an index may only "
                "call immutable functions"
            )


async def _table(conn: asyncpg.Connection, rel: ast.RangeVar) -> tuple[Table, set[str]]:
    name = ".".join(sqlcheck.quote_ident(p) for p in (rel.schemaname, rel.relname) if p)
    row = await conn.fetchrow(
        """
        SELECT n.nspname, c.relname, c.relkind::text AS relkind,
               ARRAY(SELECT attname FROM pg_attribute
                     WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) AS columns
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.oid = to_regclass($1)
        """,
        name,
    )
    if row is None or row["relkind"] not in ("r", "p", "m"):
        raise errors.InvalidStatement(
            f"table {pgsage_errors.cap(name, 100)} does not exist on the target"
        )
    return Table(row["nspname"], row["relname"]), set(row["columns"])


async def _create(
    conn: asyncpg.Connection,
    checked: sqlcheck.IndexStatement,
    expected_table: str,
    target: TargetConfig,
    existing_ok: bool,
) -> pb.ValidateStatementResponse:
    stmt = checked.tree
    assert isinstance(stmt, ast.IndexStmt) and stmt.relation is not None and stmt.idxname
    table, columns = await _table(conn, stmt.relation)
    _check_table(table, expected_table)
    used: set[str] = set()
    for elem in (*(stmt.indexParams or ()), *(stmt.indexIncludingParams or ())):
        used |= {elem.name} if elem.name else _columns_in(elem.expr)
    used |= _columns_in(stmt.whereClause)
    missing = sorted(used - columns)
    if missing:
        raise errors.InvalidStatement(f"{table} has no column(s) {', '.join(missing)}")
    called: set[str] = _functions_in(stmt.whereClause)
    for elem in (*(stmt.indexParams or ()), *(stmt.indexIncludingParams or ())):
        called |= _functions_in(elem.expr)
    await _check_immutable(conn, called)
    resolved = await guard.check_index(
        conn,
        stmt,
        table,
        lock_timeout_ms=target.lock_timeout_ms,
        statement_timeout_ms=target.statement_timeout_ms,
    )
    exists = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL",
        f"{sqlcheck.quote_ident(table.schema)}.{sqlcheck.quote_ident(stmt.idxname)}",
    )
    if exists and not existing_ok:
        raise errors.InvalidStatement(
            f"an index named {stmt.idxname} already exists in {table.schema}"
        )
    stmt.relation.schemaname = table.schema
    stmt.relation.relname = table.name
    return pb.ValidateStatementResponse(
        kind=advice_pb2.ADVICE_KIND_CREATE_INDEX,
        table=str(table),
        index_name=stmt.idxname,
        normalized_sql=RawStream()(stmt),
        rollback_sql=sqltext.drop_sql(table.schema, stmt.idxname),
        resolved_definition=resolved,
    )


async def _drop(
    conn: asyncpg.Connection,
    checked: sqlcheck.IndexStatement,
    expected_kind: Kind,
    expected_table: str,
) -> pb.ValidateStatementResponse:
    name = checked.qualified_index
    row = await conn.fetchrow(
        """
        SELECT n.nspname, i.relname AS index, t.relname AS table, ix.indisprimary,
               ix.indisunique, ix.indisexclusion, pg_get_indexdef(ix.indexrelid) AS def,
               EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) AS con
        FROM pg_index ix
        JOIN pg_class i ON i.oid = ix.indexrelid
        JOIN pg_class t ON t.oid = ix.indrelid
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE ix.indexrelid = to_regclass($1)
        """,
        name,
    )
    if row is None:
        raise errors.InvalidStatement(
            f"index {pgsage_errors.cap(name, 100)} does not exist on the target"
        )
    if row["indisprimary"] or row["indisunique"] or row["indisexclusion"] or row["con"]:
        raise errors.InvalidStatement(
            f"{row['index']} backs a primary key, unique or other constraint and cannot be dropped"
        )
    table = Table(row["nspname"], row["table"])
    _check_table(table, expected_table)
    kind = expected_kind if expected_kind in DROP_KINDS else Kind.DROP_UNUSED_INDEX
    return pb.ValidateStatementResponse(
        kind=advice_pb2.AdviceKind.ValueType(kind),
        table=str(table),
        index_name=row["index"],
        normalized_sql=sqltext.drop_sql(row["nspname"], row["index"]),
        rollback_sql=sqltext.concurrent_indexdef(row["def"]),
    )


def _check_table(table: Table, expected: str) -> None:
    if expected and expected not in (str(table), table.name):
        raise errors.InvalidStatement(
            f"the statement acts on {table}, not on {pgsage_errors.cap(expected, 100)}"
        )


async def validate(
    settings: Settings, request: pb.ValidateStatementRequest, *, existing_ok: bool = False
) -> pb.ValidateStatementResponse:
    """Checks one edited statement (see the module doc). `existing_ok`: an index of that
    name that exists already is no refusal (Apply judges it from pg_index)."""
    if not request.target:
        raise pgsage_errors.InvalidArgument("target", "target is required")
    target = targets.resolve(settings, request.target)
    checked = _parse(request.sql)
    expected = (
        Kind(request.expected_kind) if request.expected_kind in Kind._value2member_map_ else None
    )
    if expected is None:
        raise pgsage_errors.InvalidArgument("expected_kind", "unknown advice kind")
    if expected == Kind.CREATE_INDEX and checked.action != "create":
        raise errors.InvalidStatement("expected a CREATE INDEX CONCURRENTLY statement")
    if expected in DROP_KINDS and checked.action != "drop":
        raise errors.InvalidStatement("expected a DROP INDEX CONCURRENTLY statement")
    async with targets.session(target, connect_timeout=settings.connect_timeout_seconds) as conn:
        if checked.action == "create":
            return await _create(conn, checked, request.expected_table, target, existing_ok)
        return await _drop(conn, checked, expected, request.expected_table)
