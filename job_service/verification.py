"""Judging an applied change: its affected queries before and after, and a verdict.

pg_stat_statements is cumulative, so each side of the change is a difference of two
snapshots: *after* is the VERIFY job's snapshot minus the one its APPLY took; *before* is
the APPLY's snapshot minus the newest earlier snapshot of the target that holds the query
with at least `min_calls` calls fewer (so the window just before the change), else the
APPLY's figures as they are (the window since pg_stat_statements was last reset). The mean
of a window is its time over its calls; its spread comes from the two cumulative sums of
squares (calls x (stddev² + mean²)), so it is exact.

Each query is judged with Welch's t-test on the two windows' means, standard deviations
(population ones made sample ones) and calls (`scipy.stats.ttest_ind_from_stats`, unequal
variances): it is FASTER or SLOWER when the two-sided p-value is below `alpha` (0.01) and
the means differ by at least `min_change_percent` (10 %) — a tiny but certain difference is
not worth a verdict — and the shared blocks the query touches per call moved the same way
by as much: an index changes the work a query does, while a busier target only changes how
long the same work takes, so a time change without a change of work is load, not the
change (UNCHANGED, with a note). UNCHANGED otherwise; NOT_ENOUGH_EVIDENCE with fewer than
`min_calls` (30) calls on either side. A million calls make any difference "significant";
the minimum effect keeps the verdict about changes a person would care about.

The verdict weighs the time the judged queries saved: the sum over them of calls after x
(mean before - mean after). REGRESSED: some query is significantly slower and the change
lost time overall; IMPROVED: some query is significantly faster and it saved time overall;
NO_EFFECT: judged queries, none of those; INCONCLUSIVE: a statistics reset in the window
(stats_reset moved, or a query's calls went down: pg_stat_statements was reset or evicted
it), no snapshot from the APPLY, or no affected query with enough calls. A drop suggestion
usually names no affected queries: its table's statements are judged instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from job_service import snapshots
from job_service.vocabulary import Verdict
from pgsage.jobs.v1 import verification_pb2 as vpb
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt

Change = vpb.QueryVerification.Change
WRITES = ("insert", "update", "delete")


@dataclass(frozen=True)
class Rules:
    """What counts as evidence, and as a change."""

    alpha: float = 0.01
    min_change_percent: float = 10.0
    min_calls: int = 30


@dataclass(frozen=True)
class Window:
    """One statement's figures between two moments."""

    start: datetime | None
    calls: int
    total_ms: float
    mean_ms: float
    stddev_ms: float
    hit: int
    read: int

    def message(self) -> vpb.QueryWindow:
        w = vpb.QueryWindow(
            calls=self.calls,
            mean_ms=self.mean_ms,
            stddev_ms=self.stddev_ms,
            total_ms=self.total_ms,
            shared_blks_hit_per_call=self.hit / self.calls if self.calls else 0.0,
            shared_blks_read_per_call=self.read / self.calls if self.calls else 0.0,
        )
        if self.start is not None:
            w.start_time.FromDatetime(self.start)
        return w


def window(
    later: snapshots.Figures, earlier: snapshots.Figures | None, start: datetime | None
) -> Window:
    """`later` minus `earlier` (None: `later` as it is, since the last reset)."""
    if earlier is None:
        return Window(
            start,
            later.calls,
            later.total_ms,
            later.mean_ms,
            later.stddev_ms,
            later.shared_blks_hit,
            later.shared_blks_read,
        )
    calls = later.calls - earlier.calls
    total = later.total_ms - earlier.total_ms
    mean = total / calls if calls > 0 else 0.0
    squares = later.sum_of_squares - earlier.sum_of_squares
    variance = squares / calls - mean * mean if calls > 0 else 0.0
    return Window(
        start,
        calls,
        total,
        mean,
        math.sqrt(max(variance, 0.0)),
        later.shared_blks_hit - earlier.shared_blks_hit,
        later.shared_blks_read - earlier.shared_blks_read,
    )


def welch_p(before: Window, after: Window) -> float:
    """Two-sided p-value of Welch's t-test of the two windows' means."""
    from scipy import stats  # imported when a verification runs (it is a large import)

    if before.calls < 2 or after.calls < 2:
        return 1.0
    s1 = before.stddev_ms * math.sqrt(before.calls / (before.calls - 1))
    s2 = after.stddev_ms * math.sqrt(after.calls / (after.calls - 1))
    if s1 == 0.0 and s2 == 0.0:
        return 1.0 if before.mean_ms == after.mean_ms else 0.0
    result = stats.ttest_ind_from_stats(
        before.mean_ms, s1, before.calls, after.mean_ms, s2, after.calls, equal_var=False
    )
    p = float(result.pvalue)
    return 1.0 if math.isnan(p) else p


def judge(q: vpb.QueryVerification, before: Window, after: Window, rules: Rules) -> None:
    """Fills `q`'s windows, change, p-value and judgement."""
    q.before.CopyFrom(before.message())
    q.after.CopyFrom(after.message())
    if before.mean_ms > 0 and before.calls > 0 and after.calls > 0:
        q.change_percent = (after.mean_ms - before.mean_ms) / before.mean_ms * 100.0
    if before.calls < rules.min_calls or after.calls < rules.min_calls:
        q.change = Change.NOT_ENOUGH_EVIDENCE
        q.p_value = 1.0
        q.note = (
            f"not enough evidence: {before.calls} calls before and {after.calls} after "
            f"(at least {rules.min_calls} on each side are needed)"
        )
        return
    q.p_value = welch_p(before, after)
    significant = q.p_value < rules.alpha
    work = _blocks_change(before, after)
    if significant and abs(q.change_percent) >= rules.min_change_percent:
        faster = q.change_percent < 0
        if work is not None and (
            work > -rules.min_change_percent if faster else work < rules.min_change_percent
        ):
            q.change = Change.UNCHANGED
            q.note = (
                f"its time changed {q.change_percent:+.0f} % but the blocks it touches per "
                f"call did not ({work:+.0f} %): the target's load, not the change"
            )
        else:
            q.change = Change.FASTER if faster else Change.SLOWER
    else:
        q.change = Change.UNCHANGED


def _blocks_change(before: Window, after: Window) -> float | None:
    """Change of the shared blocks touched per call, in percent (None: not known)."""
    if before.calls <= 0 or after.calls <= 0:
        return None
    per_before = (before.hit + before.read) / before.calls
    per_after = (after.hit + after.read) / after.calls
    if per_before <= 0:
        return None
    return (per_after - per_before) / per_before * 100.0


@dataclass(frozen=True)
class Inputs:
    """What a verification compares."""

    affected: Sequence[str]  # the suggestion's affected query ids (as the snapshots hold them)
    applied: snapshots.Snapshot | None  # the APPLY's snapshot (None: none was taken)
    now: snapshots.Snapshot  # the VERIFY job's
    # Per query id, figures of earlier snapshots of the target, newest first.
    earlier: Mapping[str, Sequence[tuple[datetime, snapshots.Figures]]]
    # Whether the suggestion names affected queries at all (a drop's usually does not: its
    # table's statements are judged instead).
    names_queries: bool = True
    index: str = ""  # schema-qualified: the index the change created or dropped
    creates: bool = True
    table: str = ""


def _before(
    qid: str, at_apply: snapshots.Figures, inputs: Inputs, rules: Rules
) -> tuple[snapshots.Figures | None, datetime | None]:
    """The earlier figures the before-window starts from (None: since the last reset)."""
    for when, figures in inputs.earlier.get(qid, ()):
        if at_apply.calls - figures.calls >= rules.min_calls and figures.calls <= at_apply.calls:
            return figures, when
    assert inputs.applied is not None
    return None, inputs.applied.stats_reset


def _short(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= 60 else one[:57] + "..."


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if abs(value) >= 10_000 else f"{value:.1f} ms"


def verify(inputs: Inputs, rules: Rules = Rules()) -> vpb.Verification:
    """The verification of one applied change (see the module doc)."""
    result = vpb.Verification(
        alpha=rules.alpha, min_change_percent=rules.min_change_percent, min_calls=rules.min_calls
    )
    now, applied = inputs.now, inputs.applied
    result.end_time.FromDatetime(now.time)
    if applied is None:
        result.verdict = _verdict(Verdict.INCONCLUSIVE)
        result.reason = (
            "no workload snapshot was taken when the change was applied, so the figures "
            "before it are not known"
        )
        return result
    result.apply_time.FromDatetime(applied.time)
    _relations(result, inputs)
    if applied.stats_reset != now.stats_reset:
        result.verdict = _verdict(Verdict.INCONCLUSIVE)
        when = now.stats_reset.isoformat(timespec="seconds") if now.stats_reset else "unknown"
        result.reason = (
            f"pg_stat_statements was reset after the change (at {when}): the figures "
            "before and after it cannot be compared"
        )
        return result
    affected = set(inputs.affected)
    wanted = [qid for qid in applied.figures if qid in affected] + [
        qid for qid in applied.figures if qid not in affected
    ]
    reset: list[str] = []
    for qid in wanted:
        at_apply = applied.figures[qid]
        q = vpb.QueryVerification(
            query_id=qid,
            text=at_apply.text,
            affected=qid in affected,
            statement_kind=at_apply.statement_kind,
        )
        later = now.figures.get(qid)
        if later is None or later.calls < at_apply.calls:
            q.change = Change.NOT_ENOUGH_EVIDENCE
            q.note = (
                "its statistics were reset or evicted after the change (calls went down "
                f"from {at_apply.calls} to {later.calls if later else 0})"
            )
            reset.append(qid)
            result.queries.append(q)
            continue
        earlier, start = _before(qid, at_apply, inputs, rules)
        before = window(at_apply, earlier, start)
        after = window(later, at_apply, applied.time)
        judge(q, before, after, rules)
        result.queries.append(q)
    _weigh(result, inputs, rules, reset)
    return result


def _verdict(v: Verdict) -> Any:
    return vpb.Verdict.Value(v)


def _weigh(result: vpb.Verification, inputs: Inputs, rules: Rules, reset: list[str]) -> None:
    """The verdict and its reason, from the judged queries."""
    queries = list(result.queries)
    mine = [q for q in queries if q.affected] if inputs.names_queries else queries
    judged = [q for q in queries if q.change in (Change.FASTER, Change.SLOWER, Change.UNCHANGED)]
    saved = sum(q.after.calls * (q.before.mean_ms - q.after.mean_ms) for q in judged)
    would = sum(q.after.calls * q.before.mean_ms for q in judged)
    result.time_saved_ms = saved
    result.time_saved_percent = saved / would * 100.0 if would > 0 else 0.0
    _writes(result, judged)
    lost = [r for r in reset if r in set(inputs.affected)] or (
        reset if not inputs.names_queries else []
    )
    if lost:
        result.verdict = _verdict(Verdict.INCONCLUSIVE)
        result.reason = (
            f"the statistics of {len(lost)} affected quer{'y' if len(lost) == 1 else 'ies'} "
            "were reset after the change (their calls went down): the figures before and "
            "after it cannot be compared"
        )
        return
    if not mine:
        result.verdict = _verdict(Verdict.INCONCLUSIVE)
        result.reason = (
            "none of the affected queries was in pg_stat_statements when the change was applied"
            if inputs.names_queries
            else "no statement on the table was in pg_stat_statements when the change was applied"
        )
        return
    evidence = [q for q in mine if q.change != Change.NOT_ENOUGH_EVIDENCE]
    if not evidence:
        result.verdict = _verdict(Verdict.INCONCLUSIVE)
        result.reason = (
            f"not enough evidence: none of the {len(mine)} affected queries ran at least "
            f"{rules.min_calls} times both before and after the change"
        )
        return
    slower = [q for q in judged if q.change == Change.SLOWER]
    faster = [q for q in judged if q.change == Change.FASTER]
    calls = sum(q.after.calls for q in judged)
    totals = (
        f"{abs(result.time_saved_percent):.1f} % {'less' if saved >= 0 else 'more'} execution "
        f"time ({_ms(abs(saved))}) over {calls} calls since the change"
    )
    if slower and saved <= 0:
        worst = max(slower, key=lambda q: q.change_percent)
        result.verdict = _verdict(Verdict.REGRESSED)
        result.reason = (
            f"{len(slower)} quer{'y' if len(slower) == 1 else 'ies'} significantly slower "
            f"(worst: {_short(worst.text)!r} {worst.before.mean_ms:.2f} → "
            f"{worst.after.mean_ms:.2f} ms, {worst.change_percent:+.0f} %, "
            f"p = {worst.p_value:.2g}); {totals}"
        )
    elif faster and saved > 0:
        best = min(faster, key=lambda q: q.change_percent)
        result.verdict = _verdict(Verdict.IMPROVED)
        also = f"; {len(slower)} slower, outweighed" if slower else ""
        result.reason = (
            f"{len(faster)} quer{'y' if len(faster) == 1 else 'ies'} significantly faster "
            f"(best: {_short(best.text)!r} {best.before.mean_ms:.2f} → "
            f"{best.after.mean_ms:.2f} ms, {best.change_percent:+.0f} %){also}; {totals}"
        )
    else:
        result.verdict = _verdict(Verdict.NO_EFFECT)
        result.reason = (
            f"no significant change: {len(judged)} quer{'y' if len(judged) == 1 else 'ies'} "
            f"judged (each with at least {rules.min_calls} calls on both sides, p < "
            f"{rules.alpha:g} and at least {rules.min_change_percent:g} % needed); {totals}"
        )


def _writes(result: vpb.Verification, judged: list[vpb.QueryVerification]) -> None:
    """The estimated write overhead: what the table's writes cost more since the change."""
    writes = [q for q in judged if q.statement_kind in WRITES and not q.affected]
    if not writes or not result.HasField("table"):
        return
    extra = sum(q.after.calls * (q.after.mean_ms - q.before.mean_ms) for q in writes)
    base = sum(q.after.calls * q.before.mean_ms for q in writes)
    result.table.write_overhead_ms = extra
    result.table.write_overhead_percent = extra / base * 100.0 if base > 0 else 0.0


def _table(snapshot: snapshots.Snapshot, name: str) -> opt.TableStats | None:
    return next((t for t in snapshot.detail.table_stats if t.table == name), None)


def _index(snapshot: snapshots.Snapshot, name: str) -> opt.IndexStats | None:
    return next((i for i in snapshot.detail.index_stats if i.index == name), None)


def _writes_of(t: opt.TableStats) -> int:
    return t.n_tup_ins + t.n_tup_upd + t.n_tup_del


def _relations(result: vpb.Verification, inputs: Inputs) -> None:
    """The index's scans since the change, the table's write rates and HOT updates."""
    applied, now = inputs.applied, inputs.now
    assert applied is not None
    seconds = max((now.time - applied.time).total_seconds(), 1e-3)
    if inputs.index:
        at, later = _index(applied, inputs.index), _index(now, inputs.index)
        index = result.index
        index.name = inputs.index
        index.exists = bool(later and later.exists)
        if later and later.exists:
            index.size_bytes = later.size_bytes
            base = at.idx_scan if at and at.exists and at.idx_scan <= later.idx_scan else 0
            index.scans_since_apply = later.idx_scan - base
    if inputs.table:
        at_t, later_t = _table(applied, inputs.table), _table(now, inputs.table)
        if at_t is None or later_t is None or not later_t.exists:
            return
        table = result.table
        table.name = inputs.table
        written = _writes_of(later_t) - _writes_of(at_t)
        if written >= 0:
            table.writes_since_apply = written
            table.writes_per_second_after = written / seconds
        if at_t.n_tup_upd:
            table.hot_update_percent_before = 100.0 * at_t.n_tup_hot_upd / at_t.n_tup_upd
        updated = later_t.n_tup_upd - at_t.n_tup_upd
        if updated > 0:
            hot = later_t.n_tup_hot_upd - at_t.n_tup_hot_upd
            table.hot_update_percent_after = 100.0 * hot / updated
