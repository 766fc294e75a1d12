"""The target page's headline: counted from verdicts only, a regression with its loss, and
everything not counted said next to the figure; the workload series' intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf import timestamp_pb2

from job_service import target_summary
from pgsage.jobs.v1 import suggestion_pb2
from pgsage.jobs.v1 import verification_pb2 as vpb

S = suggestion_pb2.Suggestion
Q = vpb.QueryVerification
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _ts(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def change(state, verdict, queries, window=timedelta(hours=1)) -> suggestion_pb2.Suggestion:
    """A suggestion with a verification of (change, calls after, mean before, mean after)."""
    return S(
        state=state,
        verdict=verdict,
        verification_result=vpb.Verification(
            verdict=verdict,
            apply_time=_ts(START),
            end_time=_ts(START + window),
            queries=[
                Q(
                    change=c,
                    before=vpb.QueryWindow(calls=1000, mean_ms=before),
                    after=vpb.QueryWindow(calls=calls, mean_ms=after),
                )
                for c, calls, before, after in queries
            ],
        ),
    )


def test_improved_and_regressed_changes_add_up_and_the_rest_is_named_not_counted():
    applied = [
        # 100 calls: 10 ms -> 1 ms, over one hour: 900 ms saved.
        change(S.APPLIED, vpb.IMPROVED, [(Q.FASTER, 100, 10.0, 1.0)]),
        # 50 calls: 2 ms -> 4 ms over half an hour: 100 ms lost, 200 ms per hour.
        change(S.APPLIED, vpb.REGRESSED, [(Q.SLOWER, 50, 2.0, 4.0)], window=timedelta(minutes=30)),
        # Too few calls: not judged, so it counts for nothing even in a measured verdict.
        change(
            S.APPLIED,
            vpb.NO_EFFECT,
            [(Q.UNCHANGED, 40, 5.0, 5.0), (Q.NOT_ENOUGH_EVIDENCE, 3, 100.0, 1.0)],
        ),
        change(S.APPLIED, vpb.INCONCLUSIVE, [(Q.NOT_ENOUGH_EVIDENCE, 10, 50.0, 1.0)]),
        S(state=S.APPLIED),  # not verified yet
        # Rolled back: it makes the database no faster now, whatever its verdict said.
        change(S.ROLLED_BACK, vpb.IMPROVED, [(Q.FASTER, 1000, 100.0, 1.0)]),
    ]
    i = target_summary.improvement(applied)
    assert (i.applied_changes, i.improved, i.regressed, i.no_effect) == (5, 1, 1, 1)
    assert (i.inconclusive, i.unverified, i.rolled_back) == (1, 1, 1)
    assert i.time_before_ms == pytest.approx(100 * 10 + 50 * 2 + 40 * 5)  # 1300
    assert i.time_after_ms == pytest.approx(100 * 1 + 50 * 4 + 40 * 5)  # 500
    assert i.time_saved_percent == pytest.approx(100 * 800 / 1300)
    assert i.speedup == pytest.approx(1300 / 500)
    assert i.time_saved_ms_per_hour == pytest.approx(900 - 200)
    assert i.headline == (
        "3 verified changes (1 improved, 1 no effect, 1 regressed): the statements they touch "
        "take 62% less time (2.6x faster); about 700 ms of execution saved per hour "
        "(1 inconclusive, 1 awaiting verification, 1 rolled back, not counted)."
    )


def test_a_regression_alone_is_reported_as_time_lost():
    i = target_summary.improvement([change(S.APPLIED, vpb.REGRESSED, [(Q.SLOWER, 100, 1.0, 3.0)])])
    assert i.time_saved_percent == pytest.approx(-200)
    assert "take 200% more time" in i.headline and "lost per hour" in i.headline


def test_nothing_measured_says_so():
    assert target_summary.improvement([]).headline == (
        "No change pgsage applied is in place on this database."
    )
    i = target_summary.improvement([S(state=S.APPLIED)])
    assert i.headline == (
        "1 change in place, none measured yet: pgsage cannot say yet whether it made this "
        "database faster (1 awaiting verification, not counted)."
    )
    assert target_summary.pct(99.84) == "99.8" and target_summary.pct(62.4) == "62"


def test_workload_intervals_stop_at_a_statistics_reset():
    reset_1, reset_2 = START - timedelta(days=1), START + timedelta(minutes=20)
    rows = [
        {"time": START, "reason": "PERIODIC", "stats_reset": reset_1, "calls": 100,
         "total_exec_time_ms": 50.0},
        {"time": START + timedelta(minutes=15), "reason": "APPLY", "stats_reset": reset_1,
         "calls": 400, "total_exec_time_ms": 200.0},
        {"time": START + timedelta(minutes=30), "reason": "PERIODIC", "stats_reset": reset_2,
         "calls": 30, "total_exec_time_ms": 9.0},
        {"time": START + timedelta(minutes=45), "reason": "VERIFY", "stats_reset": reset_2,
         "calls": 90, "total_exec_time_ms": 20.0},
    ]  # fmt: skip
    points = target_summary.workload_points(rows)
    assert [p.has_interval for p in points] == [False, True, False, True]
    assert (points[1].interval_calls, points[1].interval_exec_time_ms) == (300, 150.0)
    assert points[1].interval_seconds == 900
    assert (points[3].interval_calls, points[3].interval_exec_time_ms) == (60, 11.0)
