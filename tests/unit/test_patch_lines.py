"""patch.sql's statements: one line each, printable, meaning exactly what was approved."""

from __future__ import annotations

import pglast
from hypothesis import given, settings
from hypothesis import strategies as st
from pglast.stream import RawStream

from gateway import patch
from pgsage import sqlcheck

_NAME = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), min_size=1, max_size=30
)


def _tree(sql: str) -> str:
    return RawStream()(pglast.parse_sql(sql)[0].stmt)


@settings(max_examples=400, deadline=None)
@given(table=_NAME, column=_NAME, value=_NAME)
def test_any_names_and_strings_become_one_printable_line_with_the_same_meaning(
    table, column, value
):
    q = sqlcheck.quote_ident
    literal = "'" + value.replace("'", "''") + "'"
    sql = (
        f"CREATE INDEX CONCURRENTLY i ON public.{q(table)} ({q(column)}) "
        f"WHERE {q(column)} = {literal}"
    )
    line, why = patch._runnable(sql)
    assert line is not None, why
    assert all(c == " " or c.isprintable() for c in line), repr(line)
    assert line.startswith("CREATE INDEX CONCURRENTLY ") and line.endswith(";")
    assert _tree(line[:-1]) == _tree(sql)


def test_a_colon_never_touches_a_name_psql_could_interpolate():
    line, _ = patch._runnable('CREATE INDEX CONCURRENTLY i ON t (((arr)[1:"USER"]))')
    assert line == 'CREATE INDEX CONCURRENTLY i ON t (((arr)[1: "USER"]));'


def test_comments_are_single_lines_that_nothing_can_end():
    lines = patch._comment("a\r\\! touch /tmp/x\u2028b\u0085c */\nsecond line")
    assert lines == ["-- a\\u000d\\! touch /tmp/x\\u2028b\\u0085c */", "-- second line"]


def test_statements_that_fail_the_check_are_not_written():
    line, why = patch._runnable("CREATE INDEX CONCURRENTLY i ON t (a); DROP TABLE t")
    assert line is None and "exactly one statement" in why
    line, why = patch._runnable("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)")
    assert line is None and "IF NOT EXISTS" in why
