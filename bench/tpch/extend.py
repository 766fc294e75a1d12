"""Baseline: Extend (Schlosser, Kossmann, Boissier, ICDE 2019), as BENCH.md describes it.

Start with no index. Each step considers
- adding a single-column index on any indexable column of the workload (`columns`), and
- appending one indexable column of the same table to an index already chosen (the wider
  index replaces the narrower one), while the index has fewer than `max_width` columns;
and takes the step with the best cost reduction per extra byte (HypoPG sizes; for an append
the extra bytes are the wider index's size minus the narrower one's) among the steps that keep
the total within the budget. It stops when no step fits or no step gains at least 0.3 % of the
current workload cost — as in the authors' implementation, a step counts only if
`cost * 1.003 < current cost`. Costs come from `whatif.WhatIf`, whose cache spares the repeated
plans (a step re-plans only the queries that read the changed table).

The budget is in bytes; the MB of BENCH.md are 10⁶ bytes, as in the authors' framework.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bench.tpch import columns
from bench.tpch.whatif import Index, WhatIf

log = logging.getLogger(__name__)

MIN_COST_IMPROVEMENT = 1.003


@dataclass
class _Step:
    config: list[Index]
    cost: float
    ratio: float


async def select(
    whatif: WhatIf,
    indexable: frozenset[columns.Column],
    budget_bytes: int,
    max_width: int = 2,
) -> list[Index]:
    """The indexes Extend chooses for `whatif`'s workload within `budget_bytes`."""
    singles = [Index(c.table, (c.name,)) for c in sorted(indexable)]
    by_table: dict[str, list[str]] = {}
    for c in sorted(indexable):
        by_table.setdefault(c.table, []).append(c.name)

    async def size(index: Index) -> int:
        return await whatif.size(index.sql)

    async def cost(config: list[Index]) -> float:
        return await whatif.workload_cost(i.sql for i in config)

    chosen: list[Index] = []
    current = await cost(chosen)
    while True:
        used = sum([await size(i) for i in chosen])
        steps: list[tuple[list[Index], int]] = []  # (configuration after the step, extra bytes)
        for index in singles:
            if index not in chosen:
                steps.append(([*chosen, index], await size(index)))
        for position, index in enumerate(chosen):
            if len(index.columns) >= max_width:
                continue
            for name in by_table.get(index.table, []):
                wider = Index(index.table, (*index.columns, name))
                if name in index.columns or wider in chosen:
                    continue
                config = [*chosen[:position], *chosen[position + 1 :], wider]
                steps.append((config, await size(wider) - await size(index)))
        best: _Step | None = None
        for config, extra in steps:
            if used + extra > budget_bytes or extra <= 0:
                continue
            new_cost = await cost(config)
            if new_cost * MIN_COST_IMPROVEMENT >= current:
                continue
            ratio = (current - new_cost) / extra
            if best is None or ratio > best.ratio:
                best = _Step(config, new_cost, ratio)
        if best is None:
            return chosen
        chosen, current = best.config, best.cost
        log.debug("extend: %s, cost %.0f", ", ".join(map(str, chosen)), current)
