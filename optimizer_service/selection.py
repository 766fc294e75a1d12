"""Choosing new indexes for the whole workload under a storage budget and a count limit.

1. Greedy by benefit per byte, Extend-style (Schlosser et al., ICDE 2019): each step either
   adds a single-column candidate or appends one workload column to an index already
   chosen, taking the step with the largest cost reduction per extra byte; it stops at the
   budget or when the best step gains less than a threshold (a fraction of the cost before
   the step). A first pass uses Extend's own threshold (0.3 %) and width (2), so small
   high-ratio indexes cannot take budget a big step needs; a second pass continues with the
   caller's minimum improvement and index width and fills what budget is left. Lazy
   evaluation (CELF) keeps the what-if calls down.
2. Local search over all candidates — the per-statement multi-column ones (equality before
   range) and covering ones too: swap a chosen index for another candidate, or drop one,
   and refill the freed budget greedily; keep a change only when the workload gets
   cheaper. So the result is never worse than the greedy's, and can be better.
3. Prune indexes a later one made redundant (the workload, writes included, costs no more
   without them), then put each key in the sound order when that costs no more.

Costs include the write cost of each index (see `costs`). Every loop runs in a sorted,
deterministic order with deterministic tie-breaks, so the same input gives the same result.

Progress is reported after every configuration costed (`report(message, fraction)`, the
fraction of the whole selection done): each phase has its span, the candidates' own
benefits and the local search (bounded by a count of lookups) move through theirs in
proportion, the greedy and final steps approach their end.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from optimizer_service import whatif
from optimizer_service.costs import CostModel, settle
from optimizer_service.model import IndexDef, Table

log = logging.getLogger(__name__)

MIN_BYTES = 8192
LOCAL_SEARCH_ROUNDS = 4
# Cost lookups the local search may spend (a count, not a time, so runs stay repeatable).
LOCAL_SEARCH_LOOKUPS = 2_500
SWAP_CANDIDATES = 25
# The step threshold of the first greedy pass, as in Extend (0.3 % of the cost before it).
COARSE_STEP = 0.003
COARSE_WIDTH = 2
# Candidates checked, at most, when max_indexes stopped the selection (`held_back`).
HELD_BACK_CHECKS = 50
# Each phase's share of the selection's progress: (start, end).
SPANS = {
    "alone": (0.0, 0.3),
    "greedy": (0.3, 0.55),
    "local search": (0.55, 0.9),
    "final": (0.9, 1.0),
}

Report = Callable[[str, float], None]


@dataclass(frozen=True)
class Limits:
    budget: int
    max_indexes: int
    # Smallest gain of a step, as a fraction of the workload cost before it (as Extend).
    min_fraction: float
    width: int


class Selector:
    def __init__(
        self,
        model: CostModel,
        candidates: list[IndexDef],
        extension_columns: dict[Table, list[str]],
        limits: Limits,
        report: Report = lambda _m, _f: None,
        reorder: Callable[[IndexDef], IndexDef] = lambda index: index,
    ) -> None:
        self.reorder = reorder
        self.model = model
        self.candidates = candidates
        self.ext = extension_columns
        self.limits = limits
        self.report = report
        self.sizes: dict[IndexDef, int] = {}
        self.unusable: set[IndexDef] = set()
        self.alone: dict[IndexDef, float] = {}
        self.costed = 0  # configurations costed and candidates sized: progress units
        self._phase_name = "alone"
        self._phase_start = 0
        self._phase_size = 1
        self._message = "choosing indexes"

    def _enter(self, phase: str, size: int, message: str) -> None:
        self._phase_name, self._phase_start = phase, self.costed
        self._phase_size, self._message = max(size, 1), message
        self._tick()

    def _tick(self, message: str | None = None) -> None:
        """Reports how far the selection is after each configuration costed: in proportion
        within a phase of known size (`alone`, `local search`), else approaching its end."""
        if message is not None:
            self._message = message
        lo, hi = SPANS[self._phase_name]
        done = (self.costed - self._phase_start) / self._phase_size
        if self._phase_name in ("alone", "local search"):
            share = min(done, 1.0)
        else:
            share = 1.0 - math.exp(-done)
        self.report(self._message, lo + (hi - lo) * share)

    async def size(self, index: IndexDef) -> int | None:
        if index in self.unusable:
            return None
        if index not in self.sizes:
            self.costed += 1
            try:
                self.sizes[index] = max(await self.model.engine.size(index), MIN_BYTES)
            except whatif.WhatIfError as exc:
                log.info("candidate %s left out: %s", index, exc)
                self.unusable.add(index)
                return None
        return self.sizes[index]

    def used_bytes(self, config: list[IndexDef]) -> int:
        return sum(self.sizes.get(i, 0) for i in config)

    async def cost(self, config: list[IndexDef] | frozenset[IndexDef]) -> float:
        total = await self.model.total(frozenset(config))
        self.costed += 1
        self._tick()
        return total

    async def _moves(
        self, chosen: list[IndexDef], pool: list[IndexDef], extend: bool, width: int
    ) -> list[tuple[IndexDef | None, IndexDef]]:
        moves: list[tuple[IndexDef | None, IndexDef]] = []
        if len(chosen) < self.limits.max_indexes:
            moves.extend((None, c) for c in pool if c not in chosen)
        if extend:
            for index in chosen:
                if index.width >= width or index.include:
                    continue
                for col in self.ext.get(index.table, ()):
                    if col not in index.columns:
                        wider = index.extended(col)
                        if wider not in chosen:
                            moves.append((index, wider))
        return moves

    async def _try(
        self, chosen: list[IndexDef], current: float, old: IndexDef | None, new: IndexDef
    ) -> tuple[float, float] | None:
        """(gain, gain per extra byte) of replacing `old` (or nothing) by `new`, or None
        when `new` cannot be made or does not fit the budget."""
        new_size = await self.size(new)
        if new_size is None:
            return None
        extra = new_size - (self.sizes[old] if old else 0)
        if self.used_bytes(chosen) + extra > self.limits.budget:
            return None
        gain = current - await self.cost([i for i in chosen if i != old] + [new])
        return gain, gain / max(extra, MIN_BYTES)

    async def _alone(self, pool: list[IndexDef]) -> None:
        """Each candidate's benefit per byte on its own: the first upper bound of the lazy
        greedy (an index rarely gains more when others already exist)."""
        empty = await self.cost([])
        todo = [i for i in pool if i not in self.alone]
        for n, index in enumerate(todo):  # sizes first: they come from one session
            self._tick(f"sizing candidate {n + 1} of {len(todo)}")
            await self.size(index)
        found = await settle([self._try([], empty, None, i) for i in todo])
        for index, result in zip(todo, found, strict=True):
            self.alone[index] = result[1] if result else -math.inf

    async def greedy(
        self,
        start: list[IndexDef],
        pool: list[IndexDef],
        extend: bool = True,
        min_fraction: float | None = None,
        width: int | None = None,
    ) -> list[IndexDef]:
        """Extend-style greedy from `start`, best cost reduction per extra byte first.

        Lazy (CELF): moves are tried in the order of their last known score, and the search
        stops once the best real score found beats every remaining bound.
        """
        await self._alone(pool)
        threshold = self.limits.min_fraction if min_fraction is None else min_fraction
        widest = self.limits.width if width is None else min(width, self.limits.width)
        chosen = list(start)
        current = await self.cost(chosen)
        bounds: dict[tuple[IndexDef | None, IndexDef], float] = {}

        def bound(move: tuple[IndexDef | None, IndexDef]) -> float:
            if move in bounds:
                return bounds[move]
            return self.alone.get(move[1], math.inf) if move[0] is None else math.inf

        while True:
            moves = await self._moves(chosen, pool, extend, widest)
            moves.sort(key=lambda m: (-bound(m), m[1], m[0] is None, m[0] or m[1]))
            best: tuple[float, float, IndexDef, IndexDef | None] | None = None
            for old, new in moves:
                if best is not None and bound((old, new)) <= best[0]:
                    break
                found = await self._try(chosen, current, old, new)
                bounds[(old, new)] = found[1] if found else -math.inf
                if found is None or found[0] <= current * threshold:
                    continue
                gain, score = found
                if best is None or (score, gain) > (best[0], best[1]):
                    best = (score, gain, new, old)
            if best is None:
                return chosen
            _, gain, new, old = best
            chosen = [i for i in chosen if i != old] + [new]
            current -= gain
            self._tick(f"{len(chosen)} indexes chosen, {self.used_bytes(chosen)} bytes")

    async def local_search(self, chosen: list[IndexDef], pool: list[IndexDef]) -> list[IndexDef]:
        """Swap, then drop-and-refill moves, while they lower the workload cost.

        A swap replaces one chosen index by one of the most promising other candidates
        (best benefit per byte on their own) when the set still fits and gets cheaper; the
        freed budget is then refilled greedily. A drop-and-refill removes one index and
        refills. Both stop after `LOCAL_SEARCH_LOOKUPS` cost lookups (a count, not a time, and
        one that does not depend on how concurrent plans interleave, so runs repeat).
        """
        best = chosen
        best_cost = await self.cost(best)
        stop_at = self.model.lookups + LOCAL_SEARCH_LOOKUPS
        promising = sorted(
            (c for c in pool if self.alone.get(c, -math.inf) > 0),
            key=lambda c: (-self.alone[c], c),
        )[:SWAP_CANDIDATES]
        for _round in range(LOCAL_SEARCH_ROUNDS):
            improved = False
            for out in sorted(best):
                rest = [i for i in best if i != out]
                room = self.limits.budget - self.used_bytes(rest)
                for inn in promising:
                    if self.model.lookups >= stop_at:
                        return best
                    if inn in best or inn == out or (self.sizes.get(inn) or 0) > room:
                        continue
                    trial_cost = await self.cost([*rest, inn])
                    if trial_cost < best_cost * (1 - 1e-6):
                        best = await self.greedy([*rest, inn], pool)
                        best_cost = await self.cost(best)
                        improved = True
                        self._tick(
                            f"local search: swapped in {inn.table} ({', '.join(inn.columns)})"
                        )
                        break
                if improved:
                    break
            if not improved:
                for out in sorted(best):
                    if self.model.lookups >= stop_at:
                        return best
                    trial = await self.greedy(
                        [i for i in best if i != out], [c for c in pool if c != out]
                    )
                    trial_cost = await self.cost(trial)
                    if trial_cost < best_cost * (1 - 1e-6):
                        best, best_cost, improved = trial, trial_cost, True
                        self._tick(f"local search improved the set to {len(best)} indexes")
                        break
            if not improved:
                break
        return best

    async def prune(self, chosen: list[IndexDef]) -> list[IndexDef]:
        """Removes indexes that no longer pay for themselves: a later, better index made
        them redundant, so the workload (writes included) costs no more without them.

        Every index passed the step threshold when it was added; removing one that still
        helps a little would only make the set worse."""
        result = list(chosen)
        while result:
            full = await self.cost(result)
            worst = None
            for index in sorted(result):
                loss = await self.cost([i for i in result if i != index]) - full
                if loss <= 0 and (worst is None or loss < worst[0]):
                    worst = (loss, index)
            if worst is None:
                break
            result.remove(worst[1])
        return result

    def _phase(self, name: str) -> None:
        log.debug(
            "selection phase %s done: %d what-if calls, %d lookups",
            name,
            self.model.calls,
            self.model.lookups,
        )

    async def select(self) -> list[IndexDef]:
        """The chosen set, in the order that adds the most benefit first."""
        singles = [c for c in self.candidates if c.width == 1 and not c.include]
        # One costing per candidate on its own (the greedy's first bounds).
        self._enter("alone", 2 * len(singles) + 1, "each candidate's benefit on its own")
        await self._alone(singles)
        self._enter(
            "greedy", 4 * len(singles) + 1, "greedy over single-column candidates (Extend-style)"
        )
        # Coarse steps first (Extend's own threshold and width), so small high-ratio indexes
        # cannot take budget a big step needs; then finer and wider steps fill what is left.
        coarse = max(self.limits.min_fraction, COARSE_STEP)
        chosen = await self.greedy([], singles, min_fraction=coarse, width=COARSE_WIDTH)
        chosen = await self.greedy(chosen, singles)
        self._phase("greedy")
        self._enter(
            "local search",
            LOCAL_SEARCH_LOOKUPS // max(len(self.model.statements), 1),
            "local search over every candidate, multi-column and covering ones too",
        )
        chosen = await self.local_search(chosen, self.candidates)
        self._phase("local search")
        self._enter("final", 2 * len(chosen) ** 2 + 1, "pruning and ordering the chosen set")
        chosen = await self.prune(chosen)
        chosen = await self.canonical(chosen)
        self._phase("prune")
        return await self.order(chosen)

    async def held_back(self, chosen: list[IndexDef]) -> int:
        """When `chosen` is as long as max_indexes allows: how many other candidates would
        each still lower the workload cost by the minimum step on top of it and fit the
        budget left (the best `HELD_BACK_CHECKS` of them by benefit per byte are tried)."""
        if not chosen or len(chosen) < self.limits.max_indexes:
            return 0
        current = await self.cost(chosen)
        room = self.limits.budget - self.used_bytes(chosen)
        taken = set(chosen)
        pool = sorted(
            (c for c in self.candidates if c not in taken and self.alone.get(c, 0.0) > 0),
            key=lambda c: (-self.alone[c], c),
        )[:HELD_BACK_CHECKS]
        count = 0
        for index in pool:
            size = await self.size(index)
            if size is None or size > room:
                continue
            gain = current - await self.cost([*chosen, index])
            if gain > current * self.limits.min_fraction:
                count += 1
        return count

    async def canonical(self, chosen: list[IndexDef]) -> list[IndexDef]:
        """Puts each index's key columns in the sound order (equality first, most selective
        first, then range), when that costs the workload no more and still fits."""
        result = list(chosen)
        for index in sorted(chosen):
            alt = self.reorder(index)
            if alt == index or alt in result:
                continue
            size = await self.size(alt)
            trial = [alt if i == index else i for i in result]
            if size is None or self.used_bytes(trial) > self.limits.budget:
                continue
            if await self.cost(trial) <= await self.cost(result) * (1 + 1e-9):
                result = trial
        return result

    async def order(self, chosen: list[IndexDef]) -> list[IndexDef]:
        """Orders `chosen` so each next index adds the largest reduction on top of the rest."""
        ordered: list[IndexDef] = []
        remaining = sorted(chosen)
        current = await self.cost([])
        while remaining:
            scored = []
            for index in remaining:
                scored.append((current - await self.cost([*ordered, index]), index))
            scored.sort(key=lambda s: (-s[0], s[1]))
            gain, index = scored[0]
            ordered.append(index)
            remaining.remove(index)
            current -= gain
        return ordered
