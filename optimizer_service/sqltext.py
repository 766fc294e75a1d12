"""Rendering SQL for indexes: deterministic names, DDL, rollback and fingerprints.

Identifiers are quoted by `pgsage.sqlcheck.quote_ident` (PostgreSQL's rules, pglast's
keyword lists), the one quoting both services use.

Names and fingerprints depend only on the index definition (kind, table, columns,
INCLUDE columns, predicate), never on the target or the run, so the same advice gets the
same identity every time.
"""

from __future__ import annotations

import hashlib
import re

from optimizer_service.model import IndexDef, Kind, Table
from pgsage.sqlcheck import quote_ident

MAX_IDENT = 63


def qualified(table: Table) -> str:
    return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def definition_key(
    kind: Kind, table: Table, keys: list[str], include: list[str], where: str
) -> str:
    """The normalized, target-independent text an advice's fingerprint hashes."""
    return "|".join(
        [
            kind.name.lower(),
            f"{table.schema}.{table.name}",
            "btree",
            ",".join(keys),
            ",".join(include),
            where.strip(),
        ]
    )


def fingerprint(kind: Kind, table: Table, keys: list[str], include: list[str], where: str) -> str:
    return _digest(definition_key(kind, table, keys, include, where), 32)


def index_name(index: IndexDef) -> str:
    """A deterministic name, at most 63 bytes: `pgsage_<table>_<cols>_<hash>`."""
    digest = _digest(
        definition_key(
            Kind.CREATE_INDEX, index.table, list(index.columns), list(index.include), ""
        ),
        8,
    )
    stem = "_".join(["pgsage", index.table.name, *index.columns])
    stem = re.sub(r"[^a-z0-9_]", "", stem.lower())
    room = MAX_IDENT - len(digest) - 1
    return f"{stem[:room].rstrip('_')}_{digest}"


def index_body(index: IndexDef) -> str:
    """`ON schema.table (cols) [INCLUDE (cols)]`."""
    body = f"ON {qualified(index.table)} ({', '.join(quote_ident(c) for c in index.columns)})"
    if index.include:
        body += f" INCLUDE ({', '.join(quote_ident(c) for c in index.include)})"
    return body


def create_sql(index: IndexDef, *, concurrently: bool = True, name: str | None = None) -> str:
    how = "CONCURRENTLY " if concurrently else ""
    return f"CREATE INDEX {how}{quote_ident(name or index_name(index))} {index_body(index)}"


def drop_sql(schema: str, name: str) -> str:
    return f"DROP INDEX CONCURRENTLY IF EXISTS {quote_ident(schema)}.{quote_ident(name)}"


def concurrent_indexdef(indexdef: str) -> str:
    """pg_get_indexdef output made `CREATE INDEX CONCURRENTLY` (UNIQUE kept as it was)."""
    return re.sub(
        r"^CREATE (UNIQUE )?INDEX ",
        lambda m: f"CREATE {m.group(1) or ''}INDEX CONCURRENTLY ",
        indexdef,
    )


def create_fingerprint(index: IndexDef) -> str:
    return fingerprint(Kind.CREATE_INDEX, index.table, list(index.columns), list(index.include), "")


def describe(index: IndexDef) -> str:
    text = f"{index.table} ({', '.join(index.columns)})"
    if index.include:
        text += f" INCLUDE ({', '.join(index.include)})"
    return text
