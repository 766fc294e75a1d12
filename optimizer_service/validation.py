"""ValidateStatement: an edited statement checked against the target before anyone runs it.

Allowed: one `CREATE INDEX CONCURRENTLY` (expressions, partial, INCLUDE fine; no UNIQUE,
no TABLESPACE, no IF NOT EXISTS) on an existing table whose columns exist, running only
built-in immutable functions, operators, casts, types, collations and operator classes as
the target's catalog resolves them (`guard.check_index`), or one `DROP INDEX CONCURRENTLY`
of an existing index that backs no primary key, unique or other constraint. The answer
carries the statement normalised (schema-qualified, named) and the SQL that undoes it.
"""

from __future__ import annotations

import asyncpg
import pglast
from pglast import ast, enums
from pglast.stream import RawStream

from optimizer_service import errors, guard, sqltext, targets
from optimizer_service.model import IndexDef, Kind, Table
from optimizer_service.settings import Settings, TargetConfig
from pgsage import errors as pgsage_errors
from pgsage.optimizer.v1 import advice_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb

DROP_KINDS = {Kind.DROP_UNUSED_INDEX, Kind.DROP_DUPLICATE_INDEX}
MAX_SQL = 20_000


def _parse(sql: str) -> ast.Node:
    if not sql.strip():
        raise pgsage_errors.InvalidArgument("sql", "sql is required")
    if len(sql) > MAX_SQL:
        raise errors.InvalidStatement(f"the statement is longer than {MAX_SQL} characters")
    try:
        stmts = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        raise errors.InvalidStatement(f"the statement does not parse: {exc}") from None
    if len(stmts) != 1 or stmts[0].stmt is None:
        raise errors.InvalidStatement(f"exactly one statement is allowed, got {len(stmts)}")
    return stmts[0].stmt


def _columns_in(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, ast.ColumnRef):
        last = node.fields[-1] if node.fields else None
        if isinstance(last, ast.String) and last.sval:
            found.add(last.sval)
    elif isinstance(node, ast.Node):
        for name in node:
            found |= _columns_in(getattr(node, name))
    elif isinstance(node, tuple | list):
        for item in node:
            found |= _columns_in(item)
    return found


def _functions_in(node: object) -> set[str]:
    """Names of the functions a node calls (schema-qualified when the SQL says so)."""
    found: set[str] = set()
    if isinstance(node, ast.FuncCall):
        parts = [p.sval or "" for p in node.funcname or () if isinstance(p, ast.String)]
        found.add(".".join(parts))
    if isinstance(node, ast.Node):
        for name in node:
            found |= _functions_in(getattr(node, name))
    elif isinstance(node, tuple | list):
        for item in node:
            found |= _functions_in(item)
    return found


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
    name = ".".join(sqltext.quote_ident(p) for p in (rel.schemaname, rel.relname) if p)
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
    stmt: ast.IndexStmt,
    expected_table: str,
    target: TargetConfig,
    existing_ok: bool,
) -> pb.ValidateStatementResponse:
    if stmt.if_not_exists:
        raise errors.InvalidStatement(
            "IF NOT EXISTS is not allowed: an index of that name that is already there would "
            "count as built (and a rollback could drop it); name the index to create"
        )
    if not stmt.concurrent:
        raise errors.InvalidStatement("use CREATE INDEX CONCURRENTLY (it does not block writes)")
    if stmt.unique or stmt.primary or stmt.isconstraint:
        raise errors.InvalidStatement("UNIQUE indexes are not allowed (they change semantics)")
    if stmt.tableSpace:
        raise errors.InvalidStatement("TABLESPACE is not allowed")
    if stmt.relation is None:
        raise errors.InvalidStatement("the statement names no table")
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
    if not stmt.idxname:
        keys = [e.name or "expr" for e in stmt.indexParams or ()]
        stmt.idxname = sqltext.index_name(IndexDef(table, tuple(keys)))
    exists = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL",
        f"{sqltext.quote_ident(table.schema)}.{sqltext.quote_ident(stmt.idxname)}",
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
    conn: asyncpg.Connection, stmt: ast.DropStmt, expected_kind: Kind, expected_table: str
) -> pb.ValidateStatementResponse:
    if stmt.removeType != enums.ObjectType.OBJECT_INDEX:
        raise errors.InvalidStatement("only DROP INDEX CONCURRENTLY is allowed")
    if not stmt.concurrent:
        raise errors.InvalidStatement("use DROP INDEX CONCURRENTLY (it does not block writes)")
    if not stmt.objects or len(stmt.objects) != 1:
        raise errors.InvalidStatement("drop exactly one index per statement")
    if stmt.behavior == enums.DropBehavior.DROP_CASCADE:
        raise errors.InvalidStatement("CASCADE is not allowed")
    parts = [p.sval for p in stmt.objects[0]]
    name = ".".join(sqltext.quote_ident(p) for p in parts)
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
    stmt = _parse(request.sql)
    expected = (
        Kind(request.expected_kind) if request.expected_kind in Kind._value2member_map_ else None
    )
    if expected is None:
        raise pgsage_errors.InvalidArgument("expected_kind", "unknown advice kind")
    if not isinstance(stmt, ast.IndexStmt | ast.DropStmt):
        raise errors.InvalidStatement(
            "only CREATE INDEX CONCURRENTLY or DROP INDEX CONCURRENTLY is allowed"
        )
    if expected == Kind.CREATE_INDEX and not isinstance(stmt, ast.IndexStmt):
        raise errors.InvalidStatement("expected a CREATE INDEX CONCURRENTLY statement")
    if expected in DROP_KINDS and isinstance(stmt, ast.IndexStmt):
        raise errors.InvalidStatement("expected a DROP INDEX CONCURRENTLY statement")
    async with targets.session(target, connect_timeout=settings.connect_timeout_seconds) as conn:
        if isinstance(stmt, ast.IndexStmt):
            return await _create(conn, stmt, request.expected_table, target, existing_ok)
        return await _drop(conn, stmt, expected, request.expected_table)
