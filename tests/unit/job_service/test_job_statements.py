"""Edited index statements: what is accepted, what is refused and why, rebuilt rollbacks."""

from __future__ import annotations

import pytest

from job_service import errors, statements

ORIGINAL = "CREATE INDEX CONCURRENTLY orders_customer_idx ON public.orders (customer_id)"


def edit(sql: str, kind: str = "CREATE_INDEX", original: str = ORIGINAL, rollback: str = ""):
    return statements.check_edit(
        kind=kind, original_sql=original, original_rollback_sql=rollback, edited_sql=sql
    )


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX CONCURRENTLY i ON public.orders (customer_id, created_at DESC)",
        "create index concurrently i on orders (lower(email))",
        "CREATE INDEX CONCURRENTLY i ON orders USING gin (tags) WHERE NOT archived",
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (a) INCLUDE (b, c)",
    ],
)
def test_accepts_allowed_creates_and_rebuilds_the_rollback(sql):
    result = edit(sql)
    assert result.sql.startswith("CREATE INDEX CONCURRENTLY")
    assert result.rollback_sql == "DROP INDEX CONCURRENTLY IF EXISTS public.i"


def test_quotes_identifiers_that_need_it():
    result = edit('CREATE INDEX CONCURRENTLY "Odd Name" ON public.orders (a)')
    assert result.rollback_sql == 'DROP INDEX CONCURRENTLY IF EXISTS public."Odd Name"'


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("", "exactly one statement"),
        (
            "CREATE INDEX CONCURRENTLY i ON orders (a); CREATE INDEX CONCURRENTLY j ON orders (b)",
            "exactly one",
        ),
        ("CREATE UNIQUE INDEX CONCURRENTLY i ON orders (a)", "UNIQUE"),
        ("CREATE INDEX i ON orders (a)", "CONCURRENTLY"),
        ("CREATE INDEX CONCURRENTLY i ON orders (a) TABLESPACE t", "TABLESPACE"),
        ("CREATE INDEX CONCURRENTLY ON orders (a)", "name the index"),
        ("CREATE INDEX CONCURRENTLY i ON orders ((random()))", "immutable"),
        ("CREATE INDEX CONCURRENTLY i ON orders (a) WHERE a IN (SELECT 1)", "subqueries"),
        ("CREATE INDEX CONCURRENTLY i ON other.orders (a)", "stay on table"),
        ("DROP TABLE orders", "only CREATE INDEX"),
        ("DROP INDEX CONCURRENTLY orders_customer_idx", "must stay a CREATE INDEX"),
        ("CREATE INDEX CONCURRENTLY i ON orders (", "not valid SQL"),
    ],
)
def test_refuses_with_the_reason(sql, words):
    with pytest.raises(errors.InvalidStatement) as caught:
        edit(sql)
    assert words in caught.value.message
    assert caught.value.metadata["field"] == "suggestion.edited_sql"


def test_drop_edits_keep_the_index_and_its_original_rollback():
    original = "DROP INDEX CONCURRENTLY public.old_idx"
    rollback = "CREATE INDEX CONCURRENTLY old_idx ON public.orders (a)"
    result = edit(
        "DROP INDEX CONCURRENTLY IF EXISTS old_idx", "DROP_UNUSED_INDEX", original, rollback
    )
    assert result == statements.Edit("DROP INDEX CONCURRENTLY IF EXISTS old_idx", rollback)
    for bad, words in [
        ("DROP INDEX old_idx", "CONCURRENTLY"),
        ("DROP INDEX CONCURRENTLY a, b", "exactly one index"),
        ("DROP INDEX CONCURRENTLY old_idx CASCADE", "CASCADE"),
        ("DROP INDEX CONCURRENTLY public.new_idx", "same index"),
        ("CREATE INDEX CONCURRENTLY i ON orders (a)", "must stay a DROP INDEX"),
    ]:
        with pytest.raises(errors.InvalidStatement, match=words):
            edit(bad, "DROP_DUPLICATE_INDEX", original, rollback)
