"""Baseline: the per-query union — each query's best single index, all of them together.

For each query the candidates are the indexes of width at most 2 (Extend's limit) on its own
indexable columns: every column alone and every ordered pair of columns of one table. Its best
index is the candidate that gives the query the lowest cost alone; a query that no candidate
improves by at least 0.3 % (Extend's threshold) contributes nothing. The union ignores the
budget ("unbounded"). To compare at a budget, `trim` keeps the union's indexes in order of
benefit per byte (the summed gains of the queries they are best for, divided by their HypoPG
size) while they fit — an index that does not fit is skipped and smaller ones may still go in.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

from bench.tpch import columns
from bench.tpch.extend import MIN_COST_IMPROVEMENT
from bench.tpch.whatif import Index, WhatIf


@dataclass(frozen=True)
class Pick:
    """One index of the union: what it is, its size, and what it saves its queries."""

    index: Index
    size: int
    benefit: float
    queries: tuple[int, ...]


def _candidates(indexable: frozenset[columns.Column], max_width: int) -> list[Index]:
    by_table: dict[str, list[str]] = {}
    for c in sorted(indexable):
        by_table.setdefault(c.table, []).append(c.name)
    out = []
    for table, names in sorted(by_table.items()):
        for width in range(1, max_width + 1):
            out.extend(Index(table, combo) for combo in permutations(names, width))
    return out


async def select(
    whatif: WhatIf, indexable_by_query: dict[int, frozenset[columns.Column]], max_width: int = 2
) -> list[Pick]:
    """The union of each query's best index, without a budget, largest benefit per byte first."""
    picks: dict[Index, Pick] = {}
    for query in whatif.workload:
        base = await whatif.cost(query, [])
        best: tuple[float, Index] | None = None
        for index in _candidates(indexable_by_query[query.number], max_width):
            c = await whatif.cost(query, [index.sql])
            if c * MIN_COST_IMPROVEMENT < base and (best is None or c < best[0]):
                best = (c, index)
        if best is None:
            continue
        cost, index = best
        gain = query.weight * (base - cost)
        old = picks.get(index)
        picks[index] = Pick(
            index=index,
            size=await whatif.size(index.sql),
            benefit=gain + (old.benefit if old else 0.0),
            queries=(*(old.queries if old else ()), query.number),
        )
    return sorted(picks.values(), key=lambda p: (-p.benefit / max(p.size, 1), p.index))


def trim(picks: list[Pick], budget_bytes: int) -> list[Pick]:
    """The picks kept within `budget_bytes`, by benefit per byte (see the module docstring)."""
    kept, used = [], 0
    for p in picks:
        if used + p.size <= budget_bytes:
            kept.append(p)
            used += p.size
    return kept
