"""Candidate indexes for a workload, from the columns its plans filter, join, sort and
group on.

Per statement and table: one single-column candidate per indexable column, and
multi-column candidates with a sound order — equality columns first (most selective first,
by pg_stats n_distinct), then one range column; join-first variants for nested-loop
lookups; equality-then-sort variants for ORDER BY / GROUP BY; and covering (INCLUDE)
variants when the statement reads few other columns of the table. Candidates an existing
index already provides (same leading columns) are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from optimizer_service.catalog import ColumnStats, ExistingIndex
from optimizer_service.explain import Statement
from optimizer_service.model import IndexDef, Table
from optimizer_service.plans import ColumnUse

MAX_INCLUDE = 3
# Covering variants only where index-only scans can skip most heap visits.
MIN_ALL_VISIBLE = 0.5


def _by_selectivity(
    table: Table, columns: Iterable[str], stats: dict[tuple[Table, str], ColumnStats]
) -> list[str]:
    def key(col: str) -> tuple[float, str]:
        s = stats.get((table, col))
        return (-(s.n_distinct if s else 1.0), col)

    return sorted(set(columns), key=key)


def _prefixes(columns: list[str], width: int) -> list[tuple[str, ...]]:
    out = []
    seen: list[str] = []
    for col in columns:
        if col in seen:
            continue
        seen.append(col)
        if len(seen) > width:
            break
        out.append(tuple(seen))
    return out


def for_table(
    table: Table,
    use: ColumnUse,
    stats: dict[tuple[Table, str], ColumnStats],
    width: int,
    covering: bool = True,
) -> set[IndexDef]:
    """Candidates for one statement's use of one table."""
    eq = _by_selectivity(table, use.eq, stats)
    rng = _by_selectivity(table, use.range - use.eq, stats)
    join = _by_selectivity(table, use.join - use.eq, stats)
    keys: set[tuple[str, ...]] = {(c,) for c in use.indexable}
    orderings = [
        eq + rng[:1],
        _by_selectivity(table, use.eq | use.join, stats) + rng[:1],
        join[:1] + eq + rng[:1],
        eq + join[:1],
    ]
    for order in use.orders:
        orderings.append(eq + [c for c in order if c not in eq])
        orderings.append(list(order))
    for ordering in orderings:
        for prefix in _prefixes(ordering, width):
            if len(prefix) > 1:
                keys.add(prefix)
    result = {IndexDef(table, k) for k in keys}
    for k in list(keys) if covering else ():
        rest = sorted(use.used - set(k))
        if 0 < len(rest) <= MAX_INCLUDE and len(k) < width + 1:
            result.add(IndexDef(table, k, tuple(rest)))
    return result


def provided(index: IndexDef, existing: list[ExistingIndex]) -> bool:
    """Whether an existing valid btree index already serves `index` (same leading keys)."""
    for ex in existing:
        if (
            ex.table == index.table
            and ex.am == "btree"
            and ex.is_valid
            and not ex.predicate
            and not ex.has_expressions
            and ex.keys[: len(index.columns)] == index.columns
            and set(index.include) <= set(ex.keys) | set(ex.include)
        ):
            return True
    return False


def generate(
    statements: list[Statement],
    stats: dict[tuple[Table, str], ColumnStats],
    existing: list[ExistingIndex],
    width: int,
    all_visible: dict[Table, float],
) -> list[IndexDef]:
    """All candidates of the workload, sorted (deterministic), minus what exists already."""
    found: set[IndexDef] = set()
    for stmt in statements:
        if stmt.facts is None:
            continue
        for table, use in stmt.facts.uses.items():
            covering = all_visible.get(table, 0.0) >= MIN_ALL_VISIBLE
            found |= for_table(table, use, stats, width, covering)
    return sorted(i for i in found if not provided(i, existing))


def extension_columns(statements: list[Statement]) -> dict[Table, list[str]]:
    """Per table, the columns the workload uses in a way an index key can serve."""
    cols: dict[Table, set[str]] = {}
    for stmt in statements:
        if stmt.facts is None:
            continue
        for table, use in stmt.facts.uses.items():
            cols.setdefault(table, set()).update(use.indexable)
    return {t: sorted(c) for t, c in cols.items()}


def sound_order(
    statements: list[Statement], stats: dict[tuple[Table, str], ColumnStats]
) -> Callable[[IndexDef], IndexDef]:
    """A function giving an index's key columns in the sound order for this workload:
    equality (and join) columns first, most selective first; then range columns; then the
    rest as they were. The selection keeps the reordered index only if it costs no more."""
    eq: dict[Table, set[str]] = {}
    rng: dict[Table, set[str]] = {}
    for stmt in statements:
        for table, use in stmt.facts.uses.items() if stmt.facts else ():
            eq.setdefault(table, set()).update(use.eq | use.join)
            rng.setdefault(table, set()).update(use.range)

    def reorder(index: IndexDef) -> IndexDef:
        cols = list(index.columns)
        first = _by_selectivity(
            index.table, [c for c in cols if c in eq.get(index.table, ())], stats
        )
        second = _by_selectivity(
            index.table,
            [c for c in cols if c in rng.get(index.table, ()) and c not in first],
            stats,
        )
        rest = [c for c in cols if c not in first and c not in second]
        return IndexDef(index.table, tuple(first + second + rest), index.include)

    return reorder
