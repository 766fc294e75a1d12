"""Names, SQL and fingerprints are deterministic and safe; error causes are scrubbed."""

from __future__ import annotations

from optimizer_service import errors, sqltext
from optimizer_service.model import IndexDef, Kind, Table

ORDERS = Table("public", "orders")


def test_index_sql_and_rollback_use_one_deterministic_name():
    index = IndexDef(ORDERS, ("customer_id", "created_at"))
    name = sqltext.index_name(index)
    assert name == sqltext.index_name(IndexDef(ORDERS, ("customer_id", "created_at")))
    assert name.startswith("pgsage_orders_customer_id_created_at_") and len(name) <= 63
    assert sqltext.create_sql(index) == (
        f"CREATE INDEX CONCURRENTLY {name} ON public.orders (customer_id, created_at)"
    )
    assert sqltext.drop_sql("public", name) == f"DROP INDEX CONCURRENTLY IF EXISTS public.{name}"


def test_long_and_odd_identifiers_are_cut_and_quoted():
    index = IndexDef(Table("Sales", "Order Lines"), ("x" * 60, "select"), ("Note",))
    name = sqltext.index_name(index)
    assert len(name) <= 63
    sql = sqltext.create_sql(index)
    assert 'ON "Sales"."Order Lines"' in sql and '"select"' in sql and 'INCLUDE ("Note")' in sql


def test_fingerprint_depends_on_the_definition_only():
    a = sqltext.create_fingerprint(IndexDef(ORDERS, ("a", "b")))
    assert a == sqltext.create_fingerprint(IndexDef(ORDERS, ("a", "b")))
    assert a != sqltext.create_fingerprint(IndexDef(ORDERS, ("b", "a")))
    assert a != sqltext.create_fingerprint(IndexDef(ORDERS, ("a", "b"), ("c",)))
    drop = sqltext.fingerprint(Kind.DROP_UNUSED_INDEX, ORDERS, ["a", "b"], [], "")
    assert drop != a


def test_saved_definition_becomes_a_concurrent_create():
    assert (
        sqltext.concurrent_indexdef("CREATE INDEX i ON public.t USING btree (a) WHERE (a > 0)")
        == "CREATE INDEX CONCURRENTLY i ON public.t USING btree (a) WHERE (a > 0)"
    )


def test_scrub_removes_dsns_passwords_and_credentials():
    text = errors.scrub(
        "could not connect postgresql://bob:hunter2@db:5432/x password=hunter2 bob:hunter2@db",
        ("hunter2",),
    )
    assert "hunter2" not in text and "postgresql://" not in text
