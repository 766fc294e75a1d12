"""The index selection algorithm (`optimizer_service.selection`) against a fake cost model.

The fake is the real `CostModel` with its read cost replaced by a table of plan costs: each
query has a cost with no new index and a cost for each leading-column prefix an index may
start with (an index (a, b) serves a query that filters on a, and one that filters on a and
b); a query takes the cheapest index that serves it, as the planner would. The write cost of
each index (`CostModel.maintenance`) is the real one. Index sizes come from a fake what-if
engine. No database: these tests pin the rules of the selection itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from optimizer_service import whatif
from optimizer_service.costs import WRITE_COST_PER_ROW, CostModel
from optimizer_service.model import IndexDef, Table
from optimizer_service.selection import Limits, Selector

MIB = 1 << 20
ORDERS = Table("public", "orders")
EVENTS = Table("public", "events")
USERS = Table("public", "users")


def ix(table: Table, *columns: str) -> IndexDef:
    return IndexDef(table, columns)


@dataclass(frozen=True)
class FakeQuery:
    """One statement: its cost without new indexes, and its cost with an index whose key
    starts with each listed prefix (weights are folded into the costs)."""

    table: Table
    base: float
    served: dict[tuple[str, ...], float] = field(default_factory=dict)

    def cost(self, config: frozenset[IndexDef]) -> float:
        best = self.base
        for index in config:
            if index.table != self.table:
                continue
            for prefix, cost in self.served.items():
                if index.columns[: len(prefix)] == prefix:
                    best = min(best, cost)
        return best


class FakeEngine:
    """What-if sizes only: 1 MiB per key column unless given; `broken` cannot be made."""

    def __init__(self, sizes: dict[IndexDef, int], broken: frozenset[IndexDef]) -> None:
        self.sizes = sizes
        self.broken = broken

    async def size(self, index: IndexDef) -> int:
        if index in self.broken:
            raise whatif.WhatIfError(f"cannot build {index}")
        return self.sizes.get(index, MIB * index.width)

    async def plan(self, stmt: object, config: frozenset[IndexDef]) -> object:
        raise AssertionError("the fake cost model never plans")

    def index_of(self, plan_index_name: str) -> IndexDef | None:
        return None

    async def close(self) -> None:
        return None


class FakeCostModel(CostModel):
    """The real cost model (write cost, counters) with the read cost taken from a table."""

    def __init__(
        self,
        queries: list[FakeQuery],
        sizes: dict[IndexDef, int] | None = None,
        write_rows: dict[Table, float] | None = None,
        broken: frozenset[IndexDef] = frozenset(),
    ) -> None:
        super().__init__(FakeEngine(sizes or {}, broken), [], write_rows or {})
        self.queries = queries

    async def read_cost(self, config: frozenset[IndexDef]) -> float:
        self.lookups += 1
        return sum(q.cost(config) for q in self.queries)


def limits(budget: int = 1000 * MIB, max_indexes: int = 10, min_fraction: float = 0.01):
    return Limits(budget=budget, max_indexes=max_indexes, min_fraction=min_fraction, width=3)


def extension(queries: list[FakeQuery]) -> dict[Table, list[str]]:
    """Columns a chosen index may be extended with: every column the queries use."""
    ext: dict[Table, set[str]] = {}
    for q in queries:
        for prefix in q.served:
            ext.setdefault(q.table, set()).update(prefix)
    return {t: sorted(cols) for t, cols in ext.items()}


async def select(
    queries: list[FakeQuery],
    candidates: list[IndexDef],
    lim: Limits | None = None,
    **model_args,
) -> tuple[list[IndexDef], Selector]:
    model = FakeCostModel(queries, **model_args)
    selector = Selector(model, candidates, extension(queries), lim or limits())
    return await selector.select(), selector


# An order-processing workload: three lookups on orders, one on events, one on users.
WORKLOAD = [
    FakeQuery(ORDERS, 10_000, {("customer_id",): 50}),
    FakeQuery(ORDERS, 8_000, {("status",): 400}),
    FakeQuery(EVENTS, 20_000, {("created_at",): 100}),
    FakeQuery(USERS, 5_000, {("email",): 5}),
]
HELPFUL = [
    ix(ORDERS, "customer_id"),
    ix(ORDERS, "status"),
    ix(EVENTS, "created_at"),
    ix(USERS, "email"),
]
USELESS = [ix(ORDERS, "note"), ix(USERS, "created_at")]
SIZES = {
    ix(ORDERS, "customer_id"): 3 * MIB,
    ix(ORDERS, "status"): 2 * MIB,
    ix(EVENTS, "created_at"): 8 * MIB,
    ix(USERS, "email"): 1 * MIB,
    ix(ORDERS, "note"): 1 * MIB,
    ix(USERS, "created_at"): 1 * MIB,
}


@pytest.mark.parametrize("budget", [0, MIB // 2, MIB, 2 * MIB, 3 * MIB, 5 * MIB, 9 * MIB, 13 * MIB])
async def test_the_chosen_indexes_never_exceed_the_storage_budget(budget):
    chosen, selector = await select(WORKLOAD, HELPFUL + USELESS, limits(budget), sizes=SIZES)
    assert sum(SIZES[i] for i in chosen) <= budget
    assert selector.used_bytes(chosen) <= budget
    # Whatever fits and helps is used: the budget is not left idle while a helpful index fits.
    left = budget - sum(SIZES[i] for i in chosen)
    assert not [i for i in HELPFUL if i not in chosen and SIZES[i] <= left]


async def test_with_room_for_everything_every_helpful_index_is_chosen_and_no_useless_one():
    chosen, _ = await select(WORKLOAD, USELESS + HELPFUL, sizes=SIZES)
    assert sorted(chosen) == sorted(HELPFUL)


@pytest.mark.parametrize("budget", [MIB, 4 * MIB, 1000 * MIB])
@pytest.mark.parametrize("max_indexes", [1, 3, 10])
async def test_an_index_that_changes_no_query_cost_is_never_chosen(budget, max_indexes):
    chosen, _ = await select(WORKLOAD, USELESS + HELPFUL, limits(budget, max_indexes), sizes=SIZES)
    assert not set(chosen) & set(USELESS)


async def test_a_two_column_index_serving_two_queries_beats_two_single_column_ones():
    # One query filters on customer_id, the other on customer_id and status: (customer_id,
    # status) serves both, better than customer_id and status indexes side by side.
    queries = [
        FakeQuery(ORDERS, 10_000, {("customer_id",): 20}),
        FakeQuery(
            ORDERS,
            10_000,
            {("customer_id",): 5_000, ("status",): 3_000, ("customer_id", "status"): 20},
        ),
    ]
    cands = [ix(ORDERS, "customer_id"), ix(ORDERS, "status"), ix(ORDERS, "customer_id", "status")]
    chosen, _ = await select(queries, cands)
    assert chosen == [ix(ORDERS, "customer_id", "status")]


async def test_two_single_column_indexes_beat_a_wide_one_whose_second_column_barely_helps():
    # customer_id is so selective that adding status to its index gains almost nothing, while
    # a status index serves a third query on its own.
    queries = [
        FakeQuery(ORDERS, 10_000, {("customer_id",): 20}),
        FakeQuery(ORDERS, 10_000, {("customer_id",): 21, ("customer_id", "status"): 20}),
        FakeQuery(ORDERS, 10_000, {("status",): 500}),
    ]
    cands = [ix(ORDERS, "customer_id"), ix(ORDERS, "status"), ix(ORDERS, "customer_id", "status")]
    chosen, _ = await select(queries, cands, limits(budget=2 * MIB))
    assert sorted(chosen) == [ix(ORDERS, "customer_id"), ix(ORDERS, "status")]


async def test_of_two_equally_helpful_indexes_the_one_on_the_write_heavy_table_loses():
    queries = [
        FakeQuery(ORDERS, 10_000, {("customer_id",): 100}),
        FakeQuery(EVENTS, 10_000, {("customer_id",): 100}),
    ]
    cands = [ix(EVENTS, "customer_id"), ix(ORDERS, "customer_id")]
    chosen, _ = await select(queries, cands, limits(max_indexes=1), write_rows={EVENTS: 500})
    assert chosen == [ix(ORDERS, "customer_id")]


@pytest.mark.parametrize(
    ("rows_written", "chosen_expected"),
    [
        (0, True),  # read-only table: the index pays off
        (1_000, True),  # write cost 4 000 < read gain 9 900
        (3_000, False),  # write cost 12 000 > read gain 9 900: the index would cost more
    ],
)
async def test_an_index_whose_write_cost_exceeds_its_read_gain_is_not_chosen(
    rows_written, chosen_expected
):
    assert WRITE_COST_PER_ROW == 4.0  # the table above is computed with it
    queries = [FakeQuery(EVENTS, 10_000, {("kind",): 100})]
    chosen, _ = await select(
        queries, [ix(EVENTS, "kind")], write_rows={EVENTS: float(rows_written)}
    )
    assert (chosen == [ix(EVENTS, "kind")]) is chosen_expected


async def test_equal_inputs_give_the_same_result_whatever_the_candidate_order():
    results = set()
    for seed in range(6):
        cands = HELPFUL + USELESS
        random.Random(seed).shuffle(cands)
        chosen, _ = await select(WORKLOAD, cands, limits(budget=6 * MIB), sizes=SIZES)
        results.add(tuple(chosen))
    assert len(results) == 1


async def test_a_tie_between_equally_good_indexes_is_broken_the_same_way_every_time():
    # Two identical tables, identical lookups, identical sizes: room for one index only.
    a, b = Table("public", "a_items"), Table("public", "b_items")
    queries = [FakeQuery(b, 5_000, {("sku",): 10}), FakeQuery(a, 5_000, {("sku",): 10})]
    picks = set()
    for cands in ([ix(a, "sku"), ix(b, "sku")], [ix(b, "sku"), ix(a, "sku")]):
        for lim in (limits(max_indexes=1), limits(budget=MIB)):
            chosen, _ = await select(queries, cands, lim)
            picks.add(tuple(chosen))
    assert picks == {(ix(a, "sku"),)}


@pytest.mark.parametrize("max_indexes", [0, 1, 2, 3, 4, 5])
async def test_no_more_than_max_indexes_are_chosen_and_the_most_valuable_come_first(max_indexes):
    chosen, _ = await select(WORKLOAD, HELPFUL + USELESS, limits(max_indexes=max_indexes))
    assert len(chosen) == min(max_indexes, len(HELPFUL))
    # By read gain: events.created_at 19 900, orders.customer_id 9 950, orders.status 7 600,
    # users.email 4 995; with the default 1 MiB per column every index costs the same.
    by_gain = [HELPFUL[2], HELPFUL[0], HELPFUL[1], HELPFUL[3]]
    assert chosen == by_gain[: len(chosen)]


@pytest.mark.parametrize("candidates", [[], HELPFUL + USELESS])
async def test_an_empty_workload_chooses_nothing(candidates):
    chosen, _ = await select([], candidates)
    assert chosen == []


async def test_a_candidate_the_what_if_engine_cannot_build_is_left_out():
    broken = frozenset({ix(EVENTS, "created_at")})
    chosen, selector = await select(WORKLOAD, HELPFUL, broken=broken)
    assert sorted(chosen) == sorted(i for i in HELPFUL if i not in broken)
    assert selector.unusable == broken
