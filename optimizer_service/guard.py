"""What an index build or a planned query would run on a target, checked through the
target's catalog before anything runs.

An index (`check_index`) is resolved by PostgreSQL itself, in a transaction that is always
rolled back, in two steps that evaluate nothing the target's users wrote:

1. the types its casts name are looked up (`to_regtype`; a domain or user type is refused
   before anything parses a literal of it);
2. its expressions and predicate become a temporary view (`CREATE TEMP VIEW ... AS SELECT
   <expressions> FROM <table> WHERE <predicate>`): parse analysis resolves every function,
   operator, cast and coercion, and records what the view depends on, without planning or
   evaluating anything; a dependency that is not built in (OID >= 16384: a user function,
   a user operator, a user CAST's function, a domain with its CHECK, a user type with its
   I/O functions, a collation) or a function that is not IMMUTABLE is refused by name;
3. the index itself is created on an empty temporary copy of the table, so PostgreSQL
   resolves its operator classes, collations and access method; again anything not built
   in is refused by name. Only built-in routines exist in it by then, so constant folding
   cannot run a user's code.

A query an analysis would plan (`check_query`) is refused when it names a function,
operator or type that is not built in, or could meet a cast through a function in a
procedural language (an implicit or assignment one, or an explicit one to a type it casts
to): planning folds constants and estimates with stable functions, so it would run them.
Catalog look-ups by name only.
"""

from __future__ import annotations

import contextlib

import asyncpg
import pglast
from pglast import ast

from optimizer_service import errors, sqltext
from optimizer_service.model import Table
from pgsage import errors as pgsage_errors
from pgsage import sqlcheck
from pgsage.sqlcheck.render import render

FIRST_NORMAL_OID = 16384
_VIEW = "pgsage_probe_view"
_COPY = "pgsage_probe_copy"
_INDEX = "pgsage_probe_index"

# Dependencies of one object that are not built in, or built-in functions that are not
# immutable (pinned built-ins are not recorded at all; PostgreSQL checks their volatility).
_DEPENDENCIES = """
SELECT pg_describe_object(d.refclassid, d.refobjid, 0) AS what
FROM pg_depend d
WHERE d.classid = $1::regclass AND d.objid = $2
  AND d.refclassid <> 'pg_class'::regclass
  AND (d.refobjid >= 16384
       OR (d.refclassid = 'pg_proc'::regclass
           AND (SELECT p.provolatile FROM pg_proc p WHERE p.oid = d.refobjid) <> 'i'))
ORDER BY 1
"""


def _type_names(tree: object) -> list[str]:
    return sorted(
        {
            render(node.typeName)
            for node in sqlcheck.walk(tree)
            if isinstance(node, ast.TypeCast) and node.typeName is not None
        }
    )


async def _user_types(conn: asyncpg.Connection, names: list[str]) -> list[str]:
    """The names among `names` that are domains or types not built in (or unknown)."""
    refused = []
    for name in names:
        oid = await conn.fetchval("SELECT to_regtype($1)::oid", name)
        if oid is None or oid >= FIRST_NORMAL_OID:
            refused.append(name)
    return refused


def _refuse(what: str, field: str) -> errors.InvalidStatement:
    return errors.InvalidStatement(
        f"the index would run {pgsage_errors.cap(what, 120)}, which is not a built-in "
        "immutable object; an index may only use built-in functions, operators, casts, "
        "types, collations and operator classes",
        field=field,
    )


def _elements(stmt: ast.IndexStmt) -> list[str]:
    """Each key of the index as a select-list item (collation included)."""
    items = []
    for n, elem in enumerate(stmt.indexParams or ()):
        expr = sqlcheck.quote_ident(elem.name) if elem.name else f"({render(elem.expr)})"
        if elem.collation:
            expr += " COLLATE " + ".".join(sqlcheck.quote_ident(p.sval) for p in elem.collation)
        items.append(f"{expr} AS k{n}")
    return items


async def _refused_by(conn: asyncpg.Connection, catalog: str, oid: int) -> list[str]:
    return [r["what"] for r in await conn.fetch(_DEPENDENCIES, catalog, oid)]


async def check_index(
    conn: asyncpg.Connection,
    stmt: ast.IndexStmt,
    table: Table,
    *,
    lock_timeout_ms: int,
    statement_timeout_ms: int,
    field: str = "sql",
) -> str:
    """Refuses (INVALID_ARGUMENT naming the object) an index whose build would run anything
    but built-in immutable routines; see the module doc. Changes nothing on the target.

    Returns the index as the catalog resolved it (`body` of its pg_get_indexdef)."""
    exprs = [e.expr for e in stmt.indexParams or () if e.expr is not None]
    bad = await _user_types(conn, _type_names([*exprs, stmt.whereClause]))
    if bad:
        raise _refuse(f"type {bad[0]}", field)
    qualified = sqltext.qualified(table)
    where = f" WHERE {render(stmt.whereClause)}" if stmt.whereClause is not None else ""
    view = f"SELECT {', '.join(_elements(stmt)) or '1'} FROM {qualified}{where}"  # noqa: S608
    probe = pglast.parse_sql(render(stmt))[0].stmt
    assert isinstance(probe, ast.IndexStmt)
    probe.relation = ast.RangeVar(schemaname="pg_temp", relname=_COPY, inh=True, relpersistence="t")
    probe.idxname, probe.concurrent, probe.if_not_exists = _INDEX, False, False
    await conn.execute("BEGIN READ WRITE")
    try:
        await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        await conn.execute(f"SET LOCAL statement_timeout = {int(statement_timeout_ms)}")
        try:
            await conn.execute(f"CREATE TEMP VIEW {_VIEW} AS {view}")
        except asyncpg.PostgresError as exc:
            if not errors.refused(exc):
                raise
            raise _unresolved(exc, field) from None
        rule = await conn.fetchval(
            "SELECT oid FROM pg_rewrite WHERE ev_class = to_regclass($1)", f"pg_temp.{_VIEW}"
        )
        refused = await _refused_by(conn, "pg_rewrite", rule)
        if refused:
            raise _refuse(refused[0], field)
        try:
            await conn.execute(f"CREATE TEMP TABLE {_COPY} (LIKE {qualified})")
        except asyncpg.PostgresError as exc:
            if not errors.refused(exc):
                raise
            raise _unresolved(exc, field) from None
        try:
            await conn.execute(render(probe))
        except asyncpg.PostgresError as exc:
            if not errors.refused(exc):
                raise
            raise _unresolved(exc, field) from None
        index = await conn.fetchval("SELECT to_regclass($1)::oid", f"pg_temp.{_INDEX}")
        refused = await _refused_by(conn, "pg_class", index)
        if refused:
            raise _refuse(refused[0], field)
        return body(str(await conn.fetchval("SELECT pg_get_indexdef($1::oid)", index)))
    finally:
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
            await conn.execute("ROLLBACK")


def body(indexdef: str) -> str:
    """What an index is, without its name and table: pg_get_indexdef from `USING` on."""
    _, _, rest = indexdef.partition(" USING ")
    return rest


def _unresolved(exc: asyncpg.PostgresError, field: str) -> pgsage_errors.PgsageError:
    """An index definition the target cannot resolve (unknown column or function, not
    immutable, ...): the caller's mistake, with the SQLSTATE and a pgsage message. Without
    the TEMP privilege the check itself cannot run: the target's configuration is at fault."""
    if getattr(exc, "sqlstate", "") == "42501":
        return pgsage_errors.FailedPrecondition(
            "the optimizer's role on the target cannot create temporary objects (grant it "
            "TEMP on the database), which checking an index definition needs",
            reason="INDEX_CHECK_NOT_POSSIBLE",
        )
    return errors.InvalidStatement(
        f"the target cannot build this index: {errors.from_target(exc, 'index check')}",
        field=field,
    )


# A name (in the given schema, else on the search path) that has a definition which is not
# built in: a user function, operator or type that the name could resolve to.
_USER_FUNCTION = """
SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.proname = $1 AND p.oid >= 16384
    AND n.nspname = ANY(COALESCE($2::text[], current_schemas(true)::text[])))
"""
_USER_OPERATOR = """
SELECT EXISTS (SELECT 1 FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
  WHERE o.oprname = $1 AND o.oid >= 16384
    AND n.nspname = ANY(COALESCE($2::text[], current_schemas(true)::text[])))
"""
# Casts through a function a user wrote in a procedural language (C functions of
# extensions are installed by a superuser) that the query could meet: implicit and
# assignment ones anywhere, explicit ones when the query casts to their target type.
_USER_CAST = """
SELECT format('cast from %s to %s', c.castsource::regtype, c.casttarget::regtype)
FROM pg_cast c JOIN pg_proc p ON p.oid = c.castfunc JOIN pg_language l ON l.oid = p.prolang
WHERE p.oid >= 16384 AND l.lanname NOT IN ('c', 'internal')
  AND (c.castcontext IN ('i', 'a') OR c.casttarget = ANY($1::regtype[]))
ORDER BY 1 LIMIT 1
"""


# A volatile function of that name (a measured query runs it for real: nextval, setval,
# pg_terminate_backend, pg_sleep, query_to_xml, set_config, ... are never measured).
_VOLATILE = """
SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE p.proname = $1 AND p.provolatile = 'v' AND NOT (p.proname = ANY($3::text[]))
    AND n.nspname = ANY(COALESCE($2::text[], current_schemas(true)::text[])))
"""
# Volatile built-ins without an effect beyond their value.
HARMLESS_VOLATILE = ("random", "random_normal", "clock_timestamp", "timeofday", "gen_random_uuid")


async def check_query(conn: asyncpg.Connection, text: str, *, measured: bool = False) -> str:
    """Why planning `text` on this target could run a user's code, or '' when it cannot.

    `measured`: the query will run (a benchmark), so a volatile built-in function (other
    than `HARMLESS_VOLATILE`) is refused too; planning never evaluates those."""
    try:
        tree = pglast.parse_sql(text)
    except pglast.parser.ParseError:
        return ""  # refused as unparsable by the caller
    funcs: set[tuple[str, ...]] = set()
    ops: set[tuple[str, ...]] = set()
    for node in sqlcheck.walk(tree):
        if isinstance(node, ast.FuncCall) and node.funcname:
            funcs.add(tuple(p.sval for p in node.funcname))
        if isinstance(node, ast.A_Expr) and node.name:
            ops.add(tuple(p.sval for p in node.name))
    for name in sorted(funcs):
        schema = list(name[:-1]) or None
        if await conn.fetchval(_USER_FUNCTION, name[-1], schema):
            return f"it calls {'.'.join(name)}, a function that is not built in"
        if measured and await conn.fetchval(_VOLATILE, name[-1], schema, HARMLESS_VOLATILE):
            return f"it calls {'.'.join(name)}, a volatile function (it would run for real)"
    for name in sorted(ops):
        if await conn.fetchval(_USER_OPERATOR, name[-1], list(name[:-1]) or None):
            return f"it uses operator {'.'.join(name)}, which is not built in"
    types = _type_names(tree)
    bad = await _user_types(conn, types)
    if bad:
        return f"it casts to {bad[0]}, a type that is not built in"
    cast = await conn.fetchval(_USER_CAST, types)
    if cast:
        return f"it could use the {cast}, which runs a user function"
    return ""


# What copying rows of tables (a benchmark's sample) would run of a user's: a domain's
# CHECK on a column, a CHECK constraint or a copied index that calls a user routine.
_COPY_RUNS = """
SELECT format('column %s.%s of domain %s', c.relname, a.attname, t.typname::text) AS what
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
  AND t.typtype = 'd' AND t.oid >= 16384
UNION ALL
SELECT pg_describe_object(d.classid, d.objid, 0) || ' (it uses '
       || pg_describe_object(d.refclassid, d.refobjid, 0) || ')'
FROM pg_depend d
WHERE d.refobjid >= 16384
  AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass, 'pg_type'::regclass,
                       'pg_opclass'::regclass)
  AND ((d.classid = 'pg_constraint'::regclass AND d.objid IN (
          SELECT oid FROM pg_constraint WHERE conrelid = ANY($1::oid[]) AND contype = 'c'))
    OR (d.classid = 'pg_class'::regclass AND d.objid IN (
          SELECT indexrelid FROM pg_index WHERE indrelid = ANY($1::oid[]))))
ORDER BY 1 LIMIT 1
"""


async def check_copy(conn: asyncpg.Connection, oids: list[int]) -> str:
    """What copying rows of tables `oids` would run of a user's code, or ''."""
    return str(await conn.fetchval(_COPY_RUNS, oids) or "")
