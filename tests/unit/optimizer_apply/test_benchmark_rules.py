"""The benchmark's pure parts: the regression rule on synthetic timings, the sampling plan
of related tables, and the rewrite of statements to a scratch schema."""

from __future__ import annotations

import pglast
import pytest

from optimizer_service import guard, regression, samples, sandbox


def stats(*timings: float) -> regression.Stats:
    return regression.summarize(list(timings))


def test_summary_is_median_mad_min_max():
    s = stats(10, 12, 11, 50, 9)
    assert (s.median, s.spread, s.minimum, s.maximum, s.runs) == (11, 1, 9, 50, 5)


def test_summary_needs_timings():
    with pytest.raises(ValueError):
        regression.summarize([])


@pytest.mark.parametrize(
    ("before", "after", "flagged"),
    [
        # quiet runs: 10 % of the before-median is the bar
        ((100, 100, 100, 100, 100), (111, 111, 111, 111, 111), True),
        ((100, 100, 100, 100, 100), (109, 109, 109, 109, 109), False),
        ((100, 100, 100, 100, 100), (110, 110, 110, 110, 110), False),  # exactly at the bar
        # faster is never a regression
        ((100, 100, 100, 100, 100), (5, 5, 5, 5, 5), False),
        # noisy before-runs (MAD 10): 3 x 10 = 30 ms is the bar, not 10 %
        ((90, 110, 100, 90, 110), (125, 125, 125, 125, 125), False),
        ((90, 110, 100, 90, 110), (131, 131, 131, 131, 131), True),
        # noisy after-runs count too: the larger spread is used
        ((100, 100, 100, 100, 100), (100, 140, 120, 100, 140), False),
        # one slow outlier does not move the median or the MAD
        ((100, 100, 100, 100, 100), (100, 100, 100, 100, 900), False),
        # sub-millisecond queries: relative rule still applies
        ((0.10, 0.10, 0.10), (0.2, 0.2, 0.2), True),
        ((0.10, 0.10, 0.10), (0.105, 0.105, 0.105), False),
    ],
)
def test_regression_rule(before, after, flagged):
    assert regression.regressed(stats(*before), stats(*after)) is flagged


def test_threshold_is_the_larger_of_relative_and_spread():
    assert regression.threshold(stats(100, 100, 100), stats(100, 100, 100)) == 10
    assert regression.threshold(stats(90, 100, 110), stats(100, 100, 100)) == 30
    assert regression.threshold(stats(100, 100, 100), stats(80, 100, 120)) == 60


def test_representative_run_is_the_one_closest_to_the_median():
    assert regression.representative([7.0, 1.0, 3.0, 9.0, 2.9]) == 2


def fk(child: int, parent: int) -> sandbox.Fk:
    return sandbox.Fk(child, parent, ("parent_id",), ("id",))


def test_parents_are_sampled_first_and_children_follow_them():
    # 3 -> 2 -> 1 (lineitem -> orders -> customer), given child first
    plan = sandbox.sampling_plan([3, 2, 1], {1: 10, 2: 100, 3: 1000}, [fk(3, 2), fk(2, 1)])
    assert [s.oid for s in plan] == [1, 2, 3]
    assert plan[0].follows is None
    assert plan[1].follows == fk(2, 1)
    assert plan[2].follows == fk(3, 2)


def test_a_child_of_two_parents_follows_the_larger_one():
    plan = sandbox.sampling_plan([3, 1, 2], {1: 10, 2: 5000}, [fk(3, 1), fk(3, 2)])
    assert [s.oid for s in plan] == [1, 2, 3]
    assert plan[2].follows == fk(3, 2)


def test_unrelated_tables_are_each_sampled_and_cycles_do_not_hang():
    plan = sandbox.sampling_plan([1, 2, 4], {}, [fk(1, 2), fk(2, 1)])
    assert [s.oid for s in plan] == [4, 1, 2]  # what can go first goes first
    assert plan[0].follows is None
    assert plan[1].follows is None  # the cycle is broken at its first table
    assert plan[2].follows == fk(2, 1)


def test_relation_names_skip_ctes_and_keep_schemas():
    sql = (
        "WITH recent AS (SELECT * FROM shop.orders WHERE id > $1) "
        "SELECT * FROM recent r JOIN customers c ON c.id = r.customer"
    )
    assert sorted(sandbox.relation_names(sql)) == ["customers", "shop.orders"]


def test_rewrite_moves_only_mapped_relations_and_keeps_parameters():
    sql = "SELECT o.id FROM orders o JOIN v_people p ON p.id = o.customer WHERE o.total = $1"
    out = sandbox.rewrite(sql, {"orders": 1}, "pgsage_bench_x")
    assert "pgsage_bench_x.orders" in out
    assert "v_people" in out and "pgsage_bench_x.v_people" not in out
    assert "$1" in out


def test_parameters_assigned_to_columns_are_found():
    update = pglast.parse_sql("UPDATE orders SET status = $2 WHERE id = $1")
    insert = pglast.parse_sql("INSERT INTO orders (id, note) VALUES ($1, $2::text)")
    called = pglast.parse_sql("SELECT date_trunc($1, created_at) FROM orders")
    assert samples._assignments(update) == {2: ("status",)}
    assert samples._assignments(insert) == {1: ("id",), 2: ("note",)}
    assert samples._assignments(called) == {}


# The wanted index is what the target resolved on an empty copy (`guard.check_index`), so
# both sides are pg_get_indexdef output: compared exactly, expressions included.
PROBE = "CREATE INDEX pgsage_probe_index ON pg_temp_3.pgsage_probe_copy USING "


@pytest.mark.parametrize(
    ("existing", "wanted", "different"),
    [
        ("CREATE INDEX i ON public.t USING btree (a)", PROBE + "btree (a)", False),
        ("CREATE INDEX i ON public.t USING btree (a DESC)", PROBE + "btree (a)", True),
        ("CREATE INDEX i ON public.t USING btree (a)", PROBE + "btree (a, b)", True),
        ("CREATE INDEX i ON public.t USING btree (a) INCLUDE (b)", PROBE + "btree (a)", True),
        ("CREATE INDEX i ON public.t USING hash (a)", PROBE + "btree (a)", True),
        ("CREATE INDEX i ON public.t USING btree (a) WHERE (b > 0)", PROBE + "btree (a)", True),
        (
            "CREATE INDEX i ON public.t USING btree (lower((a)::text))",
            PROBE + "btree (lower((a)::text))",
            False,
        ),
        (
            "CREATE INDEX i ON public.t USING btree (lower((a)::text))",
            PROBE + "btree (upper((a)::text))",
            True,
        ),
    ],
)
def test_an_existing_index_differs_when_its_resolved_definition_does(existing, wanted, different):
    assert (guard.body(existing) != guard.body(wanted)) is different
