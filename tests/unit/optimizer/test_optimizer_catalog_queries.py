"""Workload queries that read only system catalogs are skipped before planning (a driver's
type introspection is in every pg_stat_statements and cannot use an index of the user's;
planning it generically can even fail), and nothing else is."""

from __future__ import annotations

import pytest
from asyncpg import introspection

from optimizer_service.workload import reads_only_catalogs


@pytest.mark.parametrize(
    "sql",
    [
        introspection.INTRO_LOOKUP_TYPES,  # asyncpg's, with its recursive CTE
        "SELECT oid, typname FROM pg_catalog.pg_type WHERE oid = $1",
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1",
        "WITH t AS (SELECT * FROM pg_stat_activity) SELECT count(*) FROM t",
    ],
)
def test_catalog_only_queries(sql):
    assert reads_only_catalogs(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM orders WHERE customer_id = $1",
        "SELECT o.id FROM orders o JOIN pg_class c ON c.relname = o.note",
        "WITH o AS (SELECT * FROM orders) SELECT * FROM o JOIN pg_type t ON t.oid = o.id",
        "SELECT * FROM public.pg_things",  # a user's table, qualified
        "SELECT now()",  # no relation at all: not a catalog read
        "SELECT FROM (",  # not SQL
    ],
)
def test_queries_of_user_tables_are_not(sql):
    assert not reads_only_catalogs(sql)
