"""The printed result: one table a person can paste into a note, and the verdict on the target.

Target (BENCH.md): pgsage at or below the in-run Extend at every budget, strictly below at one
or more, each pgsage run under 10 s. Relative costs are compared as the evaluator computed
them, with a tolerance of 10⁻⁹ for float noise when both chose the same set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.tpch.run import MB, REFERENCE_EXTEND, Outcome, Result

TIME_LIMIT_S = 10.0
SANITY_POINTS = 2.0
_EPS = 1e-9


@dataclass(frozen=True)
class Verdict:
    passed: bool
    lines: tuple[str, ...]
    # Budgets (MB) where pgsage is above Extend or did not answer: what the CI test checks.
    above_extend: tuple[float, ...]


def verdict(outcome: Outcome) -> Verdict:
    if all(r.pgsage is None and r.pgsage_error is None for r in outcome.rows):
        return Verdict(False, ("  pgsage was not run", "RESULT: FAIL"), ())
    above = tuple(
        r.budget_mb
        for r in outcome.rows
        if r.pgsage is None
        or r.pgsage.evaluation.relative_cost > r.extend.evaluation.relative_cost + _EPS
    )
    below = [
        r.budget_mb
        for r in outcome.rows
        if r.pgsage is not None
        and r.pgsage.evaluation.relative_cost < r.extend.evaluation.relative_cost - _EPS
    ]
    slow = [r.budget_mb for r in outcome.rows if r.pgsage and r.pgsage.seconds >= TIME_LIMIT_S]
    checks = [
        ("pgsage ≤ Extend at every budget", not above, f"above at {_mbs(above)}"),
        ("strictly below Extend at ≥ 1 budget", bool(below), "below at none"),
        (f"each pgsage run < {TIME_LIMIT_S:g} s", not slow, f"slow at {_mbs(slow)}"),
    ]
    lines = tuple(
        f"  [{'ok' if ok else 'FAIL'}] {name}" + ("" if ok else f" ({why})")
        for name, ok, why in checks
    )
    passed = all(ok for _, ok, _ in checks)
    return Verdict(passed, (*lines, f"RESULT: {'PASS' if passed else 'FAIL'}"), above)


def _mbs(budgets: list[float] | tuple[float, ...]) -> str:
    return ", ".join(f"{b:g} MB" for b in budgets) or "none"


def _pct(r: Result | None) -> str:
    return "—" if r is None else f"{100 * r.evaluation.relative_cost:.1f} %"


def _set(r: Result | None) -> str:
    if r is None:
        return "—"
    return f"{len(r.evaluation.statements)} / {r.evaluation.total_bytes / MB:.1f}"


def render(outcome: Outcome) -> str:
    """The whole printout: table, union unbounded, sanity check, real sizes, verdict, sets."""
    out = [
        f"TPC-H SF {outcome.scale:g}, {outcome.query_count} queries (1-22 minus 2, 17, 20), "
        f"database {outcome.database}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "Relative workload cost = Σ EXPLAIN cost with the set (HypoPG) / Σ without; lower is "
        "better. Sizes: HypoPG estimates, MB = 10^6 bytes. Times are wall clock on a machine "
        f"with {os.cpu_count()} CPUs and load average {outcome.load[0]:.1f} at the start, "
        f"{outcome.load[1]:.1f} at the end.",
        "",
        "| budget | Extend | per-query union | pgsage | pgsage - Extend | Extend time "
        "| pgsage time | Extend idx / MB | union idx / MB | pgsage idx / MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in outcome.rows:
        diff = "—"
        if r.pgsage is not None:
            points = 100 * (r.pgsage.evaluation.relative_cost - r.extend.evaluation.relative_cost)
            diff = f"{points:+.1f} pts"
        pg_time = f"{r.pgsage.seconds:.1f} s" if r.pgsage else "—"
        out.append(
            f"| {r.budget_mb:g} MB | {_pct(r.extend)} | {_pct(r.union)} | {_pct(r.pgsage)} "
            f"| {diff} | {r.extend.seconds:.1f} s | {pg_time} | {_set(r.extend)} "
            f"| {_set(r.union)} | {_set(r.pgsage)} |"
        )
    u = outcome.union_unbounded
    out += [
        "",
        f"Per-query union without a budget: {_pct(u)}, {_set(u)} (idx / MB), "
        f"{u.seconds:.1f} s. At a budget it keeps the union's indexes by benefit per byte "
        "while they fit.",
    ]
    if outcome.scale == 1.0:
        out.append(_sanity(outcome))
    for r in outcome.rows:
        if r.pgsage_error:
            out.append(f"pgsage failed at {r.budget_mb:g} MB: {r.pgsage_error}")
    if outcome.real_sizes is not None:
        last = outcome.rows[-1].pgsage
        assert last is not None
        pairs = ", ".join(
            f"{est / MB:.1f}→{real / MB:.1f}"
            for est, real in zip(last.evaluation.sizes, outcome.real_sizes, strict=True)
        )
        out.append(
            f"pgsage at {outcome.rows[-1].budget_mb:g} MB built for real (then dropped): "
            f"HypoPG {last.evaluation.total_bytes / MB:.1f} MB, real "
            f"{sum(outcome.real_sizes) / MB:.1f} MB (each index, MB: {pairs})"
        )
    v = verdict(outcome)
    out += ["", "Target:", *v.lines]
    for r in outcome.rows:
        if r.budget_mb in v.above_extend and r.pgsage is not None:
            out += ["", *_per_query(r.budget_mb, r.extend, r.pgsage)]
    out += ["", "Chosen sets:"]
    for r in outcome.rows:
        out.append(f"  {r.budget_mb:g} MB")
        out.append(
            f"    Extend ({r.extend.what_if_calls} what-if calls, "
            f"{r.extend.cache_hits} cached): " + "; ".join(r.extend.labels)
        )
        out.append("    union:  " + "; ".join(r.union.labels))
        if r.pgsage is not None:
            out.append(
                f"    pgsage ({r.pgsage.what_if_calls} what-if calls, "
                f"{r.pgsage.cache_hits} cached, as its summary says): " + "; ".join(r.pgsage.labels)
            )
    return "\n".join(out)


def _per_query(budget_mb: float, extend: Result, pgsage: Result) -> list[str]:
    """Where pgsage loses to Extend at one budget: each query's cost under both sets."""
    lines = [
        f"Per query at {budget_mb:g} MB (EXPLAIN cost; pgsage above Extend here):",
        "| query | no index | Extend | pgsage | pgsage - Extend |",
        "|---:|---:|---:|---:|---:|",
    ]
    pairs = zip(extend.evaluation.per_query, pgsage.evaluation.per_query, strict=True)
    for (number, none, ext), (_, _, pg) in pairs:
        lines.append(f"| Q{number} | {none:,.0f} | {ext:,.0f} | {pg:,.0f} | {pg - ext:+,.0f} |")
    return lines


def _sanity(outcome: Outcome) -> str:
    parts, ok = [], True
    for r in outcome.rows:
        ref = REFERENCE_EXTEND.get(r.budget_mb)
        if ref is None:
            continue
        mine = 100 * r.extend.evaluation.relative_cost
        ok &= abs(mine - ref) <= SANITY_POINTS
        parts.append(f"{mine:.1f} vs {ref:.1f}")
    verdict_text = "within" if ok else "NOT within"
    return (
        f"Extend sanity check against the reference (authors' framework): {', '.join(parts)} "
        f"→ {verdict_text} {SANITY_POINTS:g} points."
    )
