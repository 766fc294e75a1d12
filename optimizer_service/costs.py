"""Workload cost under a set of indexes, with a what-if cache.

A statement's cost depends only on the indexes it could use: those on its tables whose
leading column it filters, joins, sorts or groups on, or that cover every column it reads
there. The cache is keyed by (statement, that relevant subset). A plan that used only the
indexes U of a configuration C also answers any configuration between U and C (the planner
chose it among more options), which the cache exploits as well.

Writes cost something: every index adds `WRITE_COST_PER_ROW` per row modified on its table
in the workload's window, so a write-heavy table needs a bigger read gain.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from optimizer_service import plans
from optimizer_service.explain import Statement
from optimizer_service.model import IndexDef, Table
from optimizer_service.whatif import Engine

log = logging.getLogger(__name__)

# Planner cost units per modified row per index: a descent, a leaf write and its WAL.
WRITE_COST_PER_ROW = 4.0


@dataclass(frozen=True)
class Evaluation:
    cost: float
    used: frozenset[IndexDef]
    plan: Any
    # The what-if engine's index names in `plan`, resolved when the plan was made: engines
    # recycle names (HypoPG reuses oids), so a later lookup could name another index.
    names: tuple[tuple[str, IndexDef], ...] = ()


def relevant(stmt: Statement, index: IndexDef) -> bool:
    """Whether `index` could change the plan of `stmt`."""
    facts = stmt.facts
    if facts is None or index.table not in facts.tables:
        return False
    use = facts.uses.get(index.table)
    if use is None:
        return False
    if index.columns[0] in use.indexable:
        return True
    return bool(use.used) and set(index.columns) | set(index.include) >= use.used


def project(stmt: Statement, index: IndexDef) -> IndexDef:
    """`index` as `stmt` sees it: key columns after the last one the statement uses cannot
    help it (they only make the index bigger), so they are cut, and statements whose use of
    a table is the same share what-if plans across index widths."""
    facts = stmt.facts
    use = facts.uses.get(index.table) if facts else None
    if use is None or index.include:
        return index
    keep = len(index.columns)
    while keep > 1 and index.columns[keep - 1] not in use.used:
        keep -= 1
    if keep == len(index.columns):
        return index
    return IndexDef(index.table, index.columns[:keep])


async def settle(aws: list[Any]) -> list[Any]:
    """`asyncio.gather` that lets every awaitable finish before the first error is raised:
    none is left running on a what-if session the caller goes on to use (or roll back)."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


class CostModel:
    """Costs statements and whole configurations through a what-if engine, cached."""

    def __init__(
        self,
        engine: Engine,
        statements: list[Statement],
        write_rows: dict[Table, float],
        helpers: list[Engine] | None = None,
    ) -> None:
        self.engine = engine
        # Plans are asked for on every engine at once (each its own session); `engine` also
        # answers sizes. Results do not depend on which session planned what.
        self.engines = [engine, *(helpers or [])]
        self._free: asyncio.Queue[Engine] = asyncio.Queue()
        for each in self.engines:
            self._free.put_nowait(each)
        self.lookups = 0
        self._views: dict[tuple[str, IndexDef], IndexDef | None] = {}
        self.statements = statements
        self.write_rows = write_rows
        self.calls = 0
        self.hits = 0
        self._cache: dict[tuple[str, frozenset[IndexDef]], Evaluation] = {}
        self._by_query: dict[str, list[tuple[frozenset[IndexDef], Evaluation]]] = {}

    async def evaluate(self, stmt: Statement, config: frozenset[IndexDef]) -> Evaluation:
        """The plan of `stmt` as if exactly `config` (new indexes) existed.

        First planned with each index projected (see `project`); only when that plan uses a
        projected index — whose real, wider version is bigger and so dearer to scan — is the
        statement planned again with the real definitions.
        """
        self.lookups += 1
        views = [self._view(stmt, i) for i in config]
        exact = frozenset(i for i, seen in zip(config, views, strict=True) if seen is not None)
        projected = frozenset(seen for seen in views if seen is not None)
        if projected != exact:
            evaluation = await self._plan(stmt, projected)
            narrowed = projected - exact
            if not evaluation.used & narrowed:
                return evaluation
        return await self._plan(stmt, exact)

    def _view(self, stmt: Statement, index: IndexDef) -> IndexDef | None:
        """`index` projected for `stmt`, or None when it is not relevant to it (memoised:
        the selection asks this hundreds of thousands of times)."""
        key = (stmt.query_id, index)
        if key not in self._views:
            self._views[key] = project(stmt, index) if relevant(stmt, index) else None
        return self._views[key]

    async def _plan(self, stmt: Statement, key_set: frozenset[IndexDef]) -> Evaluation:
        key = (stmt.query_id, key_set)
        found = self._cache.get(key)
        if found is None:
            for seen, evaluation in self._by_query.get(stmt.query_id, ()):
                if evaluation.used <= key_set <= seen:
                    found = evaluation
                    break
        if found is not None:
            self.hits += 1
            return found
        self.calls += 1
        engine = await self._free.get()
        try:
            plan = await engine.plan(stmt, key_set)
        finally:
            self._free.put_nowait(engine)
        top = plans.root(plan)
        names = tuple(
            (name, i)
            for name in sorted(set(plans.indexes_used(top)))
            if (i := engine.index_of(name)) is not None
        )
        used = frozenset(i for _, i in names)
        evaluation = Evaluation(cost=float(top["Total Cost"]), used=used, plan=plan, names=names)
        self._cache[key] = evaluation
        self._by_query.setdefault(stmt.query_id, []).append((key_set, evaluation))
        return evaluation

    def index_of(self, plan_index_name: str) -> IndexDef | None:
        return self.engine.index_of(plan_index_name)

    def maintenance(self, config: frozenset[IndexDef]) -> float:
        return sum(self.write_rows.get(i.table, 0.0) * WRITE_COST_PER_ROW for i in config)

    async def read_cost(self, config: frozenset[IndexDef]) -> float:
        evaluations = await settle([self.evaluate(s, config) for s in self.statements])
        return sum(s.weight * e.cost for s, e in zip(self.statements, evaluations, strict=True))

    async def total(self, config: frozenset[IndexDef]) -> float:
        """Weighted read cost of the workload plus the write cost of the new indexes."""
        return await self.read_cost(config) + self.maintenance(config)
