"""Advisor quality, small: the TPC-H protocol of BENCH.md at scale factor 0.01, in CI.

The whole protocol runs once for the module, as `python -m bench.tpch --scale 0.01` would run
it — data loaded into a database of this module's own (dropped afterwards), Extend and the
per-query union computed in the same run, pgsage asked through its real gRPC interface (a
subprocess of `python -m optimizer_service` with the HypoPG engine). The main test fails when
pgsage's relative workload cost is above the in-run Extend at any budget (0.5, 1, 2.5, 5 MB);
the others keep the comparison fair (every set within its budget, Extend as specified).
Timings are printed by the benchmark, never asserted here.
"""

from __future__ import annotations

import pytest

from bench.tpch import report, run, whatif
from tests.support.pg import SHARED_PG, drop_database, unique_name


@pytest.fixture(scope="module")
async def outcome():
    database = unique_name("pgsage_test_tpch")
    try:
        result = await run.run(SHARED_PG, 0.01, database=database, real_sizes=False)
    finally:
        await drop_database(database)
    print(report.render(result))
    return result


async def test_pgsage_is_at_or_below_extend_at_every_budget(outcome):
    table = report.render(outcome)
    errors = [f"{r.budget_mb:g} MB: {r.pgsage_error}" for r in outcome.rows if r.pgsage_error]
    assert not errors, "pgsage failed:\n" + "\n".join(errors) + "\n\n" + table
    # The baseline itself must be working for the comparison to mean anything.
    assert all(r.extend.evaluation.relative_cost < 1.0 for r in outcome.rows), table
    assert report.verdict(outcome).above_extend == (), table


async def test_every_set_fits_its_budget_by_the_common_estimate(outcome):
    for r in outcome.rows:
        budget = round(r.budget_mb * run.MB)
        for name, result in (("Extend", r.extend), ("union", r.union), ("pgsage", r.pgsage)):
            if result is not None:
                assert result.evaluation.total_bytes <= budget, (name, r.budget_mb)


async def test_extend_indexes_have_one_or_two_columns(outcome):
    for r in outcome.rows:
        keys = [whatif.key_columns(s) for s in r.extend.evaluation.statements]
        assert keys and all(k is not None and 1 <= len(k) <= 2 for k in keys)
