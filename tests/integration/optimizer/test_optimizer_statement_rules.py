"""One rule set for edited SQL: for the same text, the optimizer's ValidateStatement (a real
server, a real target) and the job service's UpdateSuggestion check give the same verdict.

Every statement of the table acts on objects that exist on the target, so what decides is
the text; the job service's check is `JobServicer._check_edit`, the one UpdateSuggestion
runs before it asks the optimizer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest
from pglast import keywords

from job_service import domain
from job_service.servicer import JobServicer
from pgsage import errors, rpc, sqlcheck
from pgsage.optimizer.v1 import advice_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support.optimizer import seeded_database, targets_for
from tests.support.pg import SHARED_PG, drop_database

SEED = """
CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, total int NOT NULL, note text);
CREATE INDEX orders_total_idx ON orders (total);
CREATE INDEX orders_note_idx ON orders (note);
"""
CREATE = "CREATE_INDEX"
DROP = "DROP_UNUSED_INDEX"
SUGGESTED = {
    CREATE: (
        "CREATE INDEX CONCURRENTLY pgsage_orders_customer ON public.orders (customer)",
        "DROP INDEX CONCURRENTLY IF EXISTS public.pgsage_orders_customer",
    ),
    DROP: (
        "DROP INDEX CONCURRENTLY public.orders_total_idx",
        "CREATE INDEX CONCURRENTLY orders_total_idx ON public.orders USING btree (total)",
    ),
}
KINDS = {
    CREATE: advice_pb2.ADVICE_KIND_CREATE_INDEX,
    DROP: advice_pb2.ADVICE_KIND_DROP_UNUSED_INDEX,
}

# (suggestion kind, edited text, accepted?)
STATEMENTS = [
    (CREATE, "CREATE INDEX CONCURRENTLY o_c ON orders (customer)", True),
    (CREATE, "create index concurrently o_c on public.orders (customer, total)", True),
    (CREATE, "CREATE INDEX CONCURRENTLY o_c ON orders (customer) INCLUDE (total)", True),
    (CREATE, "CREATE INDEX CONCURRENTLY o_c ON orders (customer) WHERE total > 0", True),
    (CREATE, "CREATE INDEX CONCURRENTLY o_l ON orders (lower(note))", True),
    (CREATE, 'CREATE INDEX CONCURRENTLY "Odd ""name""" ON orders USING hash (customer)', True),
    (CREATE, "CREATE INDEX CONCURRENTLY ON orders (customer)", False),
    (CREATE, "CREATE INDEX CONCURRENTLY IF NOT EXISTS o_c ON orders (customer)", False),
    (CREATE, "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_total_idx ON orders (total)", False),
    (CREATE, "CREATE UNIQUE INDEX CONCURRENTLY o_c ON orders (customer)", False),
    (CREATE, "CREATE INDEX CONCURRENTLY o_c ON orders (customer) TABLESPACE pg_default", False),
    (CREATE, "CREATE INDEX o_c ON orders (customer)", False),
    (CREATE, "CREATE INDEX CONCURRENTLY o_c ON orders (customer) WHERE total > random()", False),
    (CREATE, "CREATE INDEX CONCURRENTLY o_c ON orders ((now()))", False),
    (CREATE, "CREATE INDEX CONCURRENTLY o_c ON orders (customer) WHERE total IN (SELECT 1)", False),
    (CREATE, "CREATE INDEX CONCURRENTLY o_c ON orders (customer); SELECT 1", False),
    (CREATE, "DROP INDEX CONCURRENTLY orders_total_idx", False),
    (CREATE, "DROP TABLE orders", False),
    (CREATE, "CREATE INDEX CONCURRENTLY ON", False),
    (CREATE, "CREATE INDEX CONCURRENTLY o_c ON orders (" + "total+" * 3000 + "1)", False),
    (DROP, "DROP INDEX CONCURRENTLY orders_total_idx", True),
    (DROP, "DROP INDEX CONCURRENTLY public.orders_total_idx", True),
    (DROP, "DROP INDEX orders_total_idx", False),
    (DROP, "DROP INDEX CONCURRENTLY orders_total_idx CASCADE", False),
    (DROP, "DROP INDEX CONCURRENTLY orders_total_idx, orders_note_idx", False),
    (DROP, "CREATE INDEX CONCURRENTLY o_c ON orders (customer)", False),
    (DROP, "DROP TABLE orders", False),
]


@pytest.fixture(scope="module")
async def stub(optimizer_for, channel_for):
    database = await seeded_database("rules", SEED)
    server = await optimizer_for(targets_for(database))
    yield pb_grpc.OptimizerServiceStub(channel_for(server))
    await drop_database(database)


def suggestion(kind: str) -> domain.Suggestion:
    sql, rollback = SUGGESTED[kind]
    now = datetime.now(UTC)
    return domain.Suggestion(
        id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        kind=kind,
        state="PENDING",
        target="hypopg",
        fingerprint="f",
        sql=sql,
        rollback_sql=rollback,
        version=1,
        create_time=now,
        update_time=now,
    )


def job_service_verdict(kind: str, sql: str) -> str:
    """ "ok", or the reason UpdateSuggestion's own check refuses the edit with."""
    try:
        JobServicer._check_edit(suggestion(kind), sql)
    except errors.InvalidArgument as exc:
        return exc.reason
    return "ok"


async def optimizer_verdict(stub, kind: str, sql: str) -> str:
    request = pb.ValidateStatementRequest(
        target="hypopg", sql=sql, expected_kind=KINDS[kind], expected_table="public.orders"
    )
    try:
        await stub.ValidateStatement(request)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.details()
        return rpc.reason_of(exc)
    return "ok"


@pytest.mark.parametrize(("kind", "sql", "accepted"), STATEMENTS, ids=lambda v: str(v)[:60])
async def test_the_optimizer_and_the_job_service_agree_on_every_statement(
    stub, kind, sql, accepted
):
    expected = "ok" if accepted else "INVALID_STATEMENT"
    assert job_service_verdict(kind, sql) == expected
    assert await optimizer_verdict(stub, kind, sql) == expected


async def test_quoting_is_postgresqls_for_every_keyword_and_odd_name():
    """The optimizer's DDL quotes names with `sqlcheck.quote_ident`: PostgreSQL's own
    `quote_ident` is the truth, for every keyword pglast knows and some odd names. pglast
    knows a newer grammar than some targets (`json` is a keyword from PostgreSQL 16 on):
    such a name may be quoted where the target would not, never the other way round."""
    known = (
        keywords.RESERVED_KEYWORDS
        | keywords.UNRESERVED_KEYWORDS
        | keywords.COL_NAME_KEYWORDS
        | keywords.TYPE_FUNC_NAME_KEYWORDS
    )
    names = [*sorted(known), "orders", "Orders", "a$b", "_x1", "1x", 't"\nDROP TABLE x; --', "é"]
    conn = await asyncpg.connect(SHARED_PG)
    try:
        theirs = await conn.fetchval(
            "SELECT array_agg(quote_ident(n) ORDER BY i) "
            "FROM unnest($1::text[]) WITH ORDINALITY u(n, i)",
            names,
        )
    finally:
        await conn.close()
    differ = {
        n: (ours, t)
        for n, t in zip(names, theirs, strict=True)
        if (ours := sqlcheck.quote_ident(n)) != t
    }
    assert all(t == n and ours == f'"{n}"' and n in known for n, (ours, t) in differ.items()), (
        differ
    )
    # A few keywords of a newer grammar (SQL/JSON), not a whole category.
    assert len(differ) < len(known) // 20, differ
