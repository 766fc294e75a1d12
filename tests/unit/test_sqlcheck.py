"""The statement checker: edited index statements and caller-supplied workload queries."""

from __future__ import annotations

import pglast
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgsage import sqlcheck
from pgsage.sqlcheck import allow

ORIGINAL = "CREATE INDEX CONCURRENTLY orders_customer_idx ON public.orders (customer_id)"


def edit(sql: str, kind: str = "CREATE_INDEX", original: str = ORIGINAL, rollback: str = ""):
    return sqlcheck.check_edit(
        kind=kind, original_sql=original, original_rollback_sql=rollback, edited_sql=sql
    )


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX CONCURRENTLY i ON public.orders (customer_id, created_at DESC)",
        "create index concurrently i on orders (lower(email))",
        "CREATE INDEX CONCURRENTLY i ON orders USING gin (tags) WHERE NOT archived",
        "CREATE INDEX CONCURRENTLY i ON orders (a) INCLUDE (b, c)",
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
        ("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (a)", "IF NOT EXISTS"),
        ("CREATE INDEX CONCURRENTLY i ON orders ((random()))", "immutable"),
        ("CREATE INDEX CONCURRENTLY i ON orders (a) WHERE a IN (SELECT 1)", "subqueries"),
        ("CREATE INDEX CONCURRENTLY i ON other.orders (a)", "stay on table"),
        ("DROP TABLE orders", "only CREATE INDEX"),
        ("DROP INDEX CONCURRENTLY orders_customer_idx", "must stay a CREATE INDEX"),
        ("CREATE INDEX CONCURRENTLY i ON orders (", "not valid SQL"),
    ],
)
def test_refuses_with_the_reason(sql, words):
    with pytest.raises(sqlcheck.StatementNotAllowed) as caught:
        edit(sql)
    assert words in caught.value.message
    assert caught.value.metadata["field"] == "suggestion.edited_sql"


def test_drop_edits_keep_the_index_and_its_original_rollback():
    original = "DROP INDEX CONCURRENTLY public.old_idx"
    rollback = "CREATE INDEX CONCURRENTLY old_idx ON public.orders (a)"
    result = edit(
        "DROP INDEX CONCURRENTLY IF EXISTS old_idx", "DROP_UNUSED_INDEX", original, rollback
    )
    assert result == sqlcheck.Edit("DROP INDEX CONCURRENTLY IF EXISTS old_idx", rollback)
    for bad, words in [
        ("DROP INDEX old_idx", "CONCURRENTLY"),
        ("DROP INDEX CONCURRENTLY a, b", "exactly one index"),
        ("DROP INDEX CONCURRENTLY old_idx CASCADE", "CASCADE"),
        ("DROP INDEX CONCURRENTLY public.new_idx", "same index"),
        ("CREATE INDEX CONCURRENTLY i ON orders (a)", "must stay a DROP INDEX"),
    ]:
        with pytest.raises(sqlcheck.StatementNotAllowed, match=words):
            edit(bad, "DROP_DUPLICATE_INDEX", original, rollback)


def test_quotes_keywords_and_anything_not_plain_lowercase():
    assert sqlcheck.quote_ident("orders_idx") == "orders_idx"
    assert sqlcheck.quote_ident("select") == '"select"'
    assert sqlcheck.quote_ident("between") == '"between"'  # a column-name keyword
    assert sqlcheck.quote_ident("left") == '"left"'  # a type/function-name keyword
    assert sqlcheck.quote_ident("ref") == "ref"  # unreserved: bare, as PostgreSQL writes it
    assert sqlcheck.quote_ident("a$b") == '"a$b"'
    assert sqlcheck.quote_ident("Ä") == '"Ä"'
    assert sqlcheck.quote_ident('t"\nx') == '"t""\nx"'


# -- workload queries ----------------------------------------------------------------------

ORDINARY = [
    "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1",
    "SELECT customer_id, count(*), sum(total), avg(total) FROM orders GROUP BY customer_id "
    "HAVING count(*) > 3 ORDER BY 2 DESC LIMIT 10 OFFSET 5",
    "SELECT id, row_number() OVER (PARTITION BY customer_id ORDER BY created_at DESC) FROM orders",
    "SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE country = $1)",
    "SELECT * FROM orders WHERE status IN ('new', 'paid', 'sent') AND note LIKE 'x%'",
    "SELECT * FROM orders WHERE email ILIKE $1 OR lower(email) = lower($2)",
    "SELECT date_trunc('day', created_at), max(total) FROM orders "
    "WHERE created_at > now() - interval '7 days' GROUP BY 1",
    "SELECT coalesce(a, b, 0), greatest(a, b), nullif(a, 0), CASE WHEN a > 0 THEN 1 END FROM t",
    "SELECT extract(year FROM created_at)::int, substring(name FROM 1 FOR 3) FROM orders",
    "SELECT * FROM orders WHERE created_at BETWEEN $1 AND $2 AND id = ANY($3::bigint[])",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > current_date - 7) "
    "SELECT count(*) FROM recent",
    "SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM items i WHERE i.order_id = o.id)",
    "SELECT a FROM t UNION ALL SELECT a FROM u",
    "SELECT data->>'name', data @> '{\"a\": 1}'::jsonb FROM docs WHERE tags && ARRAY['x']",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders",
    "INSERT INTO orders (customer_id, total, status) VALUES ($1, $2, 'new') RETURNING id",
    "INSERT INTO orders (customer_id, total) VALUES ($1, $2) "
    "ON CONFLICT (id) DO UPDATE SET total = excluded.total",
    "UPDATE orders SET status = $1, updated_at = now() WHERE id = $2",
    "UPDATE stock SET qty = qty - 1 FROM orders WHERE orders.item_id = stock.item_id",
    "DELETE FROM sessions WHERE expires_at < now()",
    "DELETE FROM items USING orders WHERE items.order_id = orders.id AND orders.status = $1",
    "SELECT * FROM generate_series(1, 10) AS g(i)",
    "SELECT * FROM orders TABLESAMPLE BERNOULLI (5)",
    "select pg_catalog.lower(name) from customers",
]


@pytest.mark.parametrize("sql", ORDINARY)
def test_ordinary_workload_queries_pass(sql):
    sqlcheck.check_query(sql, field="job.queries[0]")


ATTACKS = [
    # Data out through a function called inside a cast (the first attack).
    (
        "SELECT id FROM orders WHERE id = "
        "cast(query_to_xml('select * from secrets', true, true, '') AS text)::int",
        "FUNCTION_NOT_ALLOWED",
        "query_to_xml",
    ),
    (
        "SELECT pg_terminate_backend(pid) FROM orders",
        "FUNCTION_NOT_ALLOWED",
        "pg_terminate_backend",
    ),
    ("SELECT pg_sleep(10)", "FUNCTION_NOT_ALLOWED", "pg_sleep"),
    ("SELECT current_setting('data_directory')", "FUNCTION_NOT_ALLOWED", "current_setting"),
    ("SELECT set_config('x', 'y', false)", "FUNCTION_NOT_ALLOWED", "set_config"),
    (
        "SELECT * FROM dblink('host=evil', 'select 1') AS t(a int)",
        "FUNCTION_NOT_ALLOWED",
        "dblink",
    ),
    ("SELECT pg_read_file('/etc/passwd')", "FUNCTION_NOT_ALLOWED", "pg_read_file"),
    ("SELECT lo_import('/etc/passwd')", "FUNCTION_NOT_ALLOWED", "lo_import"),
    ("SELECT nextval('orders_id_seq')", "FUNCTION_NOT_ALLOWED", "nextval"),
    ("SELECT txid_current()", "FUNCTION_NOT_ALLOWED", "txid_current"),
    ("SELECT random() FROM orders", "FUNCTION_NOT_ALLOWED", "random"),
    ("SELECT version()", "FUNCTION_NOT_ALLOWED", "version"),
    ("SELECT public.lower(name) FROM customers", "FUNCTION_NOT_ALLOWED", "public.lower"),
    ("SELECT evil_function(1)", "FUNCTION_NOT_ALLOWED", "evil_function"),
    ("SELECT * FROM orders WHERE id = (SELECT max(bump()))", "FUNCTION_NOT_ALLOWED", "bump"),
    ("SELECT rolpassword FROM pg_authid", "CATALOG_READ", "pg_authid"),
    ("SELECT * FROM pg_catalog.pg_class", "CATALOG_READ", "pg_catalog.pg_class"),
    ("SELECT * FROM information_schema.tables", "CATALOG_READ", "information_schema.tables"),
    ("SELECT * FROM pg_stat_activity", "CATALOG_READ", "pg_stat_activity"),
    (
        "SELECT * FROM orders WHERE id IN (SELECT oid FROM pg_roles)",
        "CATALOG_READ",
        "pg_roles",
    ),
    ("SELECT 'secrets'::regclass", "TYPE_NOT_ALLOWED", "regclass"),
    ("SELECT 'pg_sleep'::regproc", "TYPE_NOT_ALLOWED", "regproc"),
    ("SELECT '1'::my_domain", "TYPE_NOT_ALLOWED", "my_domain"),
    ("SELECT 1; SELECT 2", "ONE_STATEMENT", ""),
    ("SELECT 1; DROP TABLE orders", "ONE_STATEMENT", ""),
    ("DO $$ BEGIN PERFORM pg_sleep(1); END $$", "STATEMENT_KIND", "Do"),
    ("COPY orders TO '/tmp/x'", "STATEMENT_KIND", "Copy"),
    ("CALL do_things()", "STATEMENT_KIND", "Call"),
    ("SET statement_timeout = 0", "STATEMENT_KIND", "VariableSet"),
    ("EXPLAIN ANALYZE DELETE FROM orders", "STATEMENT_KIND", "Explain"),
    ("DROP TABLE orders", "STATEMENT_KIND", "Drop"),
    ("TRUNCATE orders", "STATEMENT_KIND", "Truncate"),
    (
        "WITH gone AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM gone",
        "DATA_MODIFYING_CTE",
        "gone",
    ),
    (
        "SELECT * FROM orders WHERE id IN "
        "(WITH x AS (UPDATE orders SET total = 0 RETURNING id) SELECT id FROM x)",
        "DATA_MODIFYING_CTE",
        "x",
    ),
    ("SELECT * INTO stolen FROM orders", "SELECT_INTO", ""),
    ("SELECT * FROM orders FOR UPDATE", "ROW_LOCKING", ""),
    ("SELECT current_user", "SESSION_VALUE", "CURRENT_USER"),
    ("SELECT session_user", "SESSION_VALUE", "SESSION_USER"),
    ("SELECT a === b FROM t", "OPERATOR_NOT_ALLOWED", "==="),
    ("SELECT a OPERATOR(public.+) b FROM t", "OPERATOR_NOT_ALLOWED", "public.+"),
    ("SELECT xmlelement(name a, 'x')", "SYNTAX_NOT_ALLOWED", "XmlExpr"),
    ("SELECT * FROM otherdb.public.orders", "RELATION_NOT_ALLOWED", "otherdb.public.orders"),
    ("SELECT * FROM orders TABLESAMPLE my_sampler (5)", "SYNTAX_NOT_ALLOWED", ""),
    ("MERGE INTO t USING u ON t.a = u.a WHEN MATCHED THEN DELETE", "STATEMENT_KIND", "Merge"),
    ("SELECT (", "PARSE_ERROR", ""),
    ("   ", "LENGTH", ""),
]


@pytest.mark.parametrize(("sql", "rule", "obj"), ATTACKS)
def test_attacks_are_refused_naming_the_field_and_the_rule(sql, rule, obj):
    with pytest.raises(sqlcheck.QueryNotAllowed) as caught:
        sqlcheck.check_query(sql, field="job.queries[3]")
    error = caught.value
    assert error.reason == "QUERY_NOT_ALLOWED"
    assert error.metadata["field"] == "job.queries[3]"
    assert error.metadata["rule"] == rule
    assert error.metadata.get("object", "") == obj
    assert error.message.startswith("job.queries[3]: ")


def test_check_queries_names_the_first_refused_index():
    with pytest.raises(sqlcheck.QueryNotAllowed) as caught:
        sqlcheck.check_queries(["SELECT 1", "SELECT a FROM t", "SELECT pg_sleep(1)"])
    assert caught.value.metadata["field"] == "job.queries[2]"


# -- properties ----------------------------------------------------------------------------

_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)
_PLACES = [
    "SELECT {f} FROM orders",
    "SELECT id FROM orders WHERE total > {f}",
    "SELECT id FROM orders WHERE id = cast({f} AS int)",
    "SELECT id FROM orders ORDER BY {f}",
    "SELECT * FROM orders WHERE id IN (SELECT {f} FROM items)",
    "WITH x AS (SELECT {f} AS v) SELECT v FROM x",
    "UPDATE orders SET total = {f} WHERE id = $1",
    "INSERT INTO orders (total) VALUES ({f})",
    "DELETE FROM orders WHERE id = coalesce({f}, 0)",
    "SELECT * FROM {f} AS g",
]


@settings(max_examples=300, deadline=None)
@given(
    name=_NAMES,
    schema=st.sampled_from(["", "pg_catalog.", "public.", "evil."]),
    place=st.sampled_from(_PLACES),
)
def test_a_function_off_the_list_is_refused_wherever_it_is_called(name, schema, place):
    allowed = schema in ("", "pg_catalog.") and name in allow.FUNCTIONS
    sql = place.format(f=f"{schema}{name}(1)")
    try:
        sqlcheck.check_query(sql, field="q")
    except sqlcheck.QueryNotAllowed as exc:
        assert not allowed or exc.metadata["rule"] == "PARSE_ERROR", sql
        if exc.metadata["rule"] != "PARSE_ERROR":  # a keyword as a name does not parse
            assert exc.metadata["rule"] == "FUNCTION_NOT_ALLOWED"
            assert exc.metadata["object"] == f"{schema}{name}"
    else:
        assert allowed, sql


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_is_either_accepted_or_refused_as_invalid_argument(text):
    try:
        sqlcheck.check_query(text, field="q")
    except sqlcheck.QueryNotAllowed as exc:
        assert exc.metadata["field"] == "q" and exc.metadata["rule"]


def test_deeply_nested_queries_are_checked_without_running_out_of_stack():
    sqlcheck.check_query("SELECT " + "+".join(["1"] * 20_000), field="q")
    with pytest.raises(sqlcheck.QueryNotAllowed) as caught:
        sqlcheck.check_query("SELECT " + "+".join(["1"] * 20_000) + "+pg_sleep(1)", field="q")
    assert caught.value.metadata["rule"] == "FUNCTION_NOT_ALLOWED"


def test_an_edit_nesting_too_deeply_is_refused_not_an_internal_error():
    deep = "CREATE INDEX CONCURRENTLY i ON orders ((" + "+".join(["a"] * 5000) + "))"
    with pytest.raises(sqlcheck.StatementNotAllowed, match="nests too deeply"):
        edit(deep)


@pytest.mark.parametrize("name", ["_\n", "a\n", "ab_1\n"])
def test_the_normalized_statement_keeps_a_name_ending_in_a_line_break(name):
    # Written without quotes, such a name would be a different column followed by a
    # line break (pglast's own check for "needs no quotes" let it through).
    checked = sqlcheck.check_index_statement(
        f"CREATE INDEX CONCURRENTLY i ON t ({sqlcheck.quote_ident(name)})"
    )
    columns = pglast.parse_sql(checked.normalized)[0].stmt.indexParams
    assert columns[0].name == name
