"""Index statements a person may write, and what an edit of a suggestion may change.

Allowed is exactly one statement of one of two kinds (DESIGN.md, Lifecycles):

- `CREATE INDEX CONCURRENTLY name ON table ...`: expressions, partial `WHERE`, `INCLUDE`,
  any access method; not UNIQUE (it would change what the table accepts), not in a
  TABLESPACE (storage placement is the DBA's call), not `IF NOT EXISTS` (it would "apply"
  without building anything when a DBA's index has that name, and the rollback would then
  drop the DBA's index), and it must name the index so it can be rolled back. Functions
  must be immutable to index them: the well-known volatile and stable ones are refused
  here, the rest on the target's catalog by the optimizer.
- `DROP INDEX CONCURRENTLY name`: one index, without CASCADE.

Only the text is checked here; whether the table and index exist on a target, and whether
the index backs a constraint, is the optimizer's `ValidateStatement`. `check_edit` adds the
rules of an edit: the same kind, the same table (create) or index (drop).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pglast
from pglast import ast, enums, keywords

from pgsage import errors
from pgsage.sqlcheck.queries import walk
from pgsage.sqlcheck.render import render

# Non-immutable functions people reach for in index expressions and predicates.
_NOT_IMMUTABLE = frozenset(
    {
        "now",
        "current_timestamp",
        "clock_timestamp",
        "statement_timestamp",
        "transaction_timestamp",
        "timeofday",
        "random",
        "setseed",
        "nextval",
        "currval",
        "lastval",
        "gen_random_uuid",
        "uuid_generate_v4",
        "txid_current",
        "pg_backend_pid",
        "current_user",
        "session_user",
        "current_setting",
        "age",
        "to_char",
    }
)
MAX_STATEMENT_LENGTH = 20_000
_SIMPLE = re.compile(r"[a-z_][a-z0-9_]*")
# PostgreSQL's quote_ident leaves unreserved keywords (`name`, `ref`, `data`) bare: they are
# identifiers wherever one is expected. The other categories need quotes.
_KEYWORDS = frozenset(
    keywords.RESERVED_KEYWORDS | keywords.COL_NAME_KEYWORDS | keywords.TYPE_FUNC_NAME_KEYWORDS
)


class StatementNotAllowed(errors.InvalidArgument):
    """An index statement pgsage will not store, validate or export."""

    default_reason = "INVALID_STATEMENT"

    def __init__(self, message: str, *, field: str = "suggestion.edited_sql") -> None:
        super().__init__(field, message)


def quote_ident(identifier: str) -> str:
    """`identifier` as PostgreSQL's `quote_ident` writes it: bare only when that is safe."""
    if _SIMPLE.fullmatch(identifier) and identifier not in _KEYWORDS:
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


def _qualify(schema: str | None, name: str) -> str:
    return ".".join(quote_ident(p) for p in (schema, name) if p)


@dataclass(frozen=True)
class IndexStatement:
    """One checked statement: what it does, on what, and how to undo it."""

    action: str  # "create" or "drop"
    index_schema: str | None
    index: str
    # The table a create acts on (schema may be None: the search path decides).
    table_schema: str | None
    table: str | None
    normalized: str
    # The parsed statement, for a caller adding checks the text cannot answer (the
    # optimizer resolves its names in a target's catalog). Not part of equality.
    tree: ast.IndexStmt | ast.DropStmt = field(compare=False, repr=False)

    @property
    def qualified_index(self) -> str:
        return _qualify(self.index_schema, self.index)

    @property
    def qualified_table(self) -> str | None:
        return None if self.table is None else _qualify(self.table_schema, self.table)

    @property
    def rollback(self) -> str | None:
        """The statement undoing a create (a drop's undo needs the catalog: None)."""
        if self.action != "create":
            return None
        return f"DROP INDEX CONCURRENTLY IF EXISTS {self.qualified_index}"


def check_index_statement(sql: str, *, field: str = "suggestion.edited_sql") -> IndexStatement:
    """Parses and checks one allowed index statement; INVALID_ARGUMENT naming `field`."""
    if len(sql) > MAX_STATEMENT_LENGTH:
        raise StatementNotAllowed(
            f"the statement is longer than {MAX_STATEMENT_LENGTH} characters", field=field
        )
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        raise StatementNotAllowed(f"not valid SQL: {errors.cap(exc, 200)}", field=field) from None
    if len(statements) != 1:
        raise StatementNotAllowed(
            f"expected exactly one statement, found {len(statements)}", field=field
        )
    stmt = statements[0].stmt
    try:
        if isinstance(stmt, ast.IndexStmt):
            return _create(stmt, field)
        if isinstance(stmt, ast.DropStmt) and stmt.removeType == enums.ObjectType.OBJECT_INDEX:
            return _drop(stmt, field)
    except RecursionError:  # rendering `a+a+...+a` nested thousands deep
        raise StatementNotAllowed("the statement nests too deeply", field=field) from None
    raise StatementNotAllowed(
        "only CREATE INDEX CONCURRENTLY or DROP INDEX CONCURRENTLY is allowed", field=field
    )


def _create(stmt: ast.IndexStmt, field: str) -> IndexStatement:
    def refuse(why: str) -> StatementNotAllowed:
        return StatementNotAllowed(why, field=field)

    if not stmt.concurrent:
        raise refuse("use CREATE INDEX CONCURRENTLY, so the table stays writable while it builds")
    if stmt.unique or stmt.primary or stmt.isconstraint:
        raise refuse("UNIQUE indexes are not allowed: they change what the table accepts")
    if stmt.tableSpace:
        raise refuse("TABLESPACE is not allowed: the index goes where the table's indexes go")
    if stmt.if_not_exists:
        raise refuse(
            "IF NOT EXISTS is not allowed: an existing index of that name would be taken for "
            "this one (and dropped by its rollback)"
        )
    if not stmt.idxname:
        raise refuse("name the index (CREATE INDEX CONCURRENTLY name ON ...) so it can be undone")
    nodes = list(walk(stmt))
    if any(isinstance(n, ast.SubLink) for n in nodes):
        raise refuse("subqueries are not allowed in an index")
    called = {
        (n.funcname[-1].sval or "").lower()
        for n in nodes
        if isinstance(n, ast.FuncCall) and n.funcname and isinstance(n.funcname[-1], ast.String)
    }
    if any(isinstance(n, ast.SQLValueFunction) for n in nodes):
        called.add("current_timestamp")
    bad = sorted(called & _NOT_IMMUTABLE)
    if bad:
        raise refuse(f"only immutable functions can be indexed; {', '.join(bad)} is not")
    relation = stmt.relation
    assert relation is not None  # the grammar requires ON table
    return IndexStatement(
        action="create",
        index_schema=relation.schemaname,
        index=stmt.idxname,
        table_schema=relation.schemaname,
        table=relation.relname,
        normalized=render(stmt),
        tree=stmt,
    )


def _drop(stmt: ast.DropStmt, field: str) -> IndexStatement:
    def refuse(why: str) -> StatementNotAllowed:
        return StatementNotAllowed(why, field=field)

    if not stmt.concurrent:
        raise refuse("use DROP INDEX CONCURRENTLY, so the table stays usable meanwhile")
    objects = stmt.objects or ()
    if len(objects) != 1:
        raise refuse(f"drop exactly one index, not {len(objects)}")
    if stmt.behavior == enums.DropBehavior.DROP_CASCADE:
        raise refuse("CASCADE is not allowed: it would drop what depends on the index too")
    parts = [p.sval for p in objects[0]]
    return IndexStatement(
        action="drop",
        index_schema=parts[-2] if len(parts) > 1 else None,
        index=parts[-1],
        table_schema=None,
        table=None,
        normalized=render(stmt),
        tree=stmt,
    )


def _same(
    schema_a: str | None, name_a: str | None, schema_b: str | None, name_b: str | None
) -> bool:
    # An unqualified name matches a qualified one: the target's search path resolves it.
    if name_a != name_b:
        return False
    return schema_a is None or schema_b is None or schema_a == schema_b


@dataclass(frozen=True)
class Edit:
    """A checked edit: the statement to run and the one undoing it."""

    sql: str
    rollback_sql: str


def check_edit(
    *, kind: str, original_sql: str, original_rollback_sql: str, edited_sql: str
) -> Edit:
    """Checks a person's edit of a suggestion's statement and rebuilds its rollback.

    The edit keeps the suggestion's kind (create stays create, drop stays drop) and what it
    acts on: the same table for a create, the same index for a drop (whose original
    rollback, which recreates that index, then still applies).
    """
    edit = check_index_statement(edited_sql)
    want = "create" if kind == "CREATE_INDEX" else "drop"
    if edit.action != want:
        raise StatementNotAllowed(
            f"this suggestion is a {kind}; the edit must stay a "
            f"{'CREATE INDEX' if want == 'create' else 'DROP INDEX'} CONCURRENTLY"
        )
    try:
        original = check_index_statement(original_sql, field="suggestion.sql")
    except StatementNotAllowed:
        original = None
    if want == "create":
        if original is not None and not _same(
            original.table_schema, original.table, edit.table_schema, edit.table
        ):
            raise StatementNotAllowed(
                f"the edit must stay on table {original.qualified_table}, "
                f"not {edit.qualified_table}"
            )
        # The index lands in its table's schema: name it so in the rollback.
        schema = edit.index_schema or (original.table_schema if original else None)
        return Edit(
            sql=edit.normalized,
            rollback_sql=f"DROP INDEX CONCURRENTLY IF EXISTS {_qualify(schema, edit.index)}",
        )
    if original is not None and not _same(
        original.index_schema, original.index, edit.index_schema, edit.index
    ):
        raise StatementNotAllowed(
            f"the edit must drop the same index, {original.qualified_index}, "
            f"not {edit.qualified_index}"
        )
    return Edit(sql=edit.normalized, rollback_sql=original_rollback_sql)
