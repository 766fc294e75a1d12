"""The judgement of an applied change (`job_service.verification`), on figures as two
snapshots of pg_stat_statements give them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from job_service import snapshots, verification
from pgsage.jobs.v1 import verification_pb2 as vpb
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RESET = T0 - timedelta(hours=1)
Change = vpb.QueryVerification.Change


def fig(qid: str, calls: int, mean: float, sd: float, blocks: int, kind: str = "select"):
    return snapshots.Figures(
        query_id=qid,
        calls=calls,
        total_ms=calls * mean,
        mean_ms=mean,
        stddev_ms=sd,
        shared_blks_hit=calls * blocks,
        text=f"SELECT {qid}",
        statement_kind=kind,
        requested_as=qid,
    )


def after(earlier: snapshots.Figures, calls: int, mean: float, sd: float, blocks: int):
    """Cumulative figures once `calls` more calls of `mean` ± `sd` ran."""
    n = earlier.calls + calls
    total = earlier.total_ms + calls * mean
    squares = earlier.sum_of_squares + calls * (sd**2 + mean**2)
    m = total / n
    return snapshots.Figures(
        query_id=earlier.query_id,
        calls=n,
        total_ms=total,
        mean_ms=m,
        stddev_ms=max(squares / n - m * m, 0) ** 0.5,
        shared_blks_hit=earlier.shared_blks_hit + calls * blocks,
        text=earlier.text,
        statement_kind=earlier.statement_kind,
        requested_as=earlier.requested_as,
    )


def snap(time: datetime, figures, reset=RESET) -> snapshots.Snapshot:
    return snapshots.Snapshot(
        id=uuid.uuid4(),
        target="shop",
        time=time,
        reason="APPLY",
        stats_reset=reset,
        deallocations=0,
        statements=len(figures),
        calls=sum(f.calls for f in figures),
        total_exec_time_ms=sum(f.total_ms for f in figures),
        detail=opt.WorkloadSnapshot(),
        figures={f.query_id: f for f in figures},
    )


def judge(before_f, after_f, **kw) -> vpb.Verification:
    return verification.verify(
        verification.Inputs(
            affected=[f.query_id for f in before_f],
            applied=snap(T0, before_f),
            now=snap(T0 + timedelta(hours=1), after_f, kw.pop("reset", RESET)),
            earlier={},
            **kw,
        )
    )


def test_a_much_faster_query_that_reads_fewer_blocks_is_improved():
    q = fig("1", 500, 40.0, 4.0, 1500)
    v = judge([q], [after(q, 400, 0.2, 0.05, 4)])
    assert v.verdict == vpb.IMPROVED, v.reason
    [row] = v.queries
    assert row.change == Change.FASTER and row.p_value < 1e-6
    assert round(row.before.mean_ms, 6) == 40.0 and round(row.after.mean_ms, 6) == 0.2
    assert row.after.calls == 400 and row.after.shared_blks_hit_per_call == 4
    assert v.time_saved_ms > 0 and "faster" in v.reason


def test_a_slower_query_that_does_more_work_is_regressed():
    q = fig("1", 500, 0.2, 0.05, 4)
    v = judge([q], [after(q, 300, 12.0, 2.0, 1500)])
    assert v.verdict == vpb.REGRESSED, v.reason
    assert v.queries[0].change == Change.SLOWER and v.time_saved_ms < 0


def test_slower_but_the_same_work_is_load_not_the_change():
    q = fig("1", 500, 5.0, 0.5, 100)
    v = judge([q], [after(q, 500, 7.0, 0.5, 100)])
    assert v.verdict == vpb.NO_EFFECT, v.reason
    assert v.queries[0].change == Change.UNCHANGED
    assert "load" in v.queries[0].note


def test_too_few_calls_is_not_enough_evidence():
    q = fig("1", 500, 40.0, 4.0, 1500)
    v = judge([q], [after(q, 10, 0.2, 0.05, 4)])
    assert v.verdict == vpb.INCONCLUSIVE
    assert "not enough evidence" in v.reason
    assert v.queries[0].change == Change.NOT_ENOUGH_EVIDENCE


def test_a_statistics_reset_in_the_window_is_inconclusive():
    q = fig("1", 500, 40.0, 4.0, 1500)
    moved = judge([q], [fig("1", 400, 0.2, 0.05, 4)], reset=T0 + timedelta(minutes=5))
    assert moved.verdict == vpb.INCONCLUSIVE and "reset" in moved.reason
    # Calls that went down (one database's entries reset, or evicted) tell the same.
    down = judge([q], [fig("1", 100, 0.2, 0.05, 4)])
    assert down.verdict == vpb.INCONCLUSIVE and "reset" in down.reason


def test_no_snapshot_from_the_apply_is_inconclusive():
    v = verification.verify(
        verification.Inputs(affected=["1"], applied=None, now=snap(T0, []), earlier={})
    )
    assert v.verdict == vpb.INCONCLUSIVE and "no workload snapshot" in v.reason


def test_the_window_before_starts_at_the_newest_earlier_snapshot_with_enough_calls():
    old = fig("1", 100, 50.0, 5.0, 1500)
    at_apply = after(old, 200, 10.0, 1.0, 1500)  # the workload got lighter lately
    v = verification.verify(
        verification.Inputs(
            affected=["1"],
            applied=snap(T0, [at_apply]),
            now=snap(T0 + timedelta(hours=1), [after(at_apply, 200, 10.0, 1.0, 1500)]),
            earlier={"1": [(T0 - timedelta(minutes=30), old)]},
        )
    )
    [row] = v.queries
    assert row.before.calls == 200 and round(row.before.mean_ms, 6) == 10.0
    assert v.verdict == vpb.NO_EFFECT, v.reason
