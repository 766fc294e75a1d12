"""One target at a glance (GetTargetSummary): what the store holds about it, and how much
faster the changes pgsage verified made it.

The headline counts only what verifications measured. For each change in place (APPLIED)
whose verdict is IMPROVED, NO_EFFECT or REGRESSED, the statements its verification judged
(enough calls on both sides: FASTER, SLOWER or UNCHANGED) contribute their calls after the
change at the mean before ("what they would have taken") and at the mean after ("what they
took"). INCONCLUSIVE verdicts, statements with too few calls, changes not verified yet and
changes rolled back contribute nothing; the headline says how many there are.
"""

# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from job_service import errors, jobs, mappers, schedule_mappers, schedules, suggestions
from job_service.database import Connection
from job_service.vocabulary import APPLIED_ONCE_STATES, JobKind, SuggestionState
from pgsage.jobs.v1 import job_service_pb2, suggestion_pb2, verification_pb2

ANALYSES = 10
OPEN_SUGGESTIONS = 50
APPLIED_CHANGES = 50
SCHEDULES = 20
WORKLOAD_POINTS = 2000
DEFAULT_PERIOD = timedelta(days=7)

_JUDGED = (
    verification_pb2.QueryVerification.FASTER,
    verification_pb2.QueryVerification.SLOWER,
    verification_pb2.QueryVerification.UNCHANGED,
)
_MEASURED = (verification_pb2.IMPROVED, verification_pb2.NO_EFFECT, verification_pb2.REGRESSED)

_KNOWN = """
SELECT EXISTS (SELECT 1 FROM job WHERE target = $1)
    OR EXISTS (SELECT 1 FROM workload_snapshot WHERE target = $1)"""

_ANALYSES = f"""
SELECT {jobs.COLUMNS} FROM job WHERE target = $1 AND kind = '{JobKind.ANALYZE}'
ORDER BY create_time DESC, id DESC LIMIT {ANALYSES}"""

# One per fingerprint: the newest analysis's.
_OPEN = f"""
SELECT * FROM (
    SELECT DISTINCT ON (fingerprint) {suggestions.COLUMNS} FROM suggestion
    WHERE target = $1 AND state IN ('{SuggestionState.PENDING}', '{SuggestionState.APPROVED}')
      AND NOT superseded
    ORDER BY fingerprint, create_time DESC, id DESC
) AS s LIMIT 1000"""

_APPLIED = f"""
SELECT {suggestions.COLUMNS} FROM suggestion
WHERE target = $1 AND state = ANY($2::text[])
ORDER BY update_time DESC, id DESC LIMIT {APPLIED_CHANGES}"""

_SCHEDULES = f"""
SELECT {schedules.COLUMNS} FROM schedule WHERE target = $1
ORDER BY create_time DESC, id DESC LIMIT {SCHEDULES}"""

_WORKLOAD = f"""
SELECT * FROM (
    SELECT time, reason, stats_reset, calls, total_exec_time_ms FROM workload_snapshot
    WHERE target = $1 AND time >= now() - $2::interval
    ORDER BY time DESC, id DESC LIMIT {WORKLOAD_POINTS}
) AS w ORDER BY time"""


def parse_name(name: str, field: str = "name") -> str:
    """The target of `targets/{target}`; INVALID_ARGUMENT naming `field` otherwise."""
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != "targets" or not parts[1].strip():
        raise errors.InvalidName(field, name, "targets/{target}")
    return parts[1]


async def known(conn: Connection, target: str) -> bool:
    """Whether the store holds anything of `target` (a job or a snapshot)."""
    return bool(await conn.fetchval(_KNOWN, target))


async def read(conn: Connection, target: str, period: timedelta) -> job_service_pb2.TargetSummary:
    """Everything but `info` and `snapshot_interval`."""
    summary = job_service_pb2.TargetSummary(name=f"targets/{target}", target=target)
    for row in await conn.fetch(_ANALYSES, target):
        summary.analyses.append(mappers.job_to_proto(jobs.job_from_row(row)))
    open_ = [
        mappers.suggestion_to_proto(suggestions.from_row(r))
        for r in await conn.fetch(_OPEN, target)
    ]
    open_.sort(key=lambda s: (-s.workload_improvement_percent, -s.marginal_improvement_percent))
    summary.open_suggestions.extend(open_[:OPEN_SUGGESTIONS])
    applied = [
        mappers.suggestion_to_proto(suggestions.from_row(r))
        for r in await conn.fetch(_APPLIED, target, [str(s) for s in APPLIED_ONCE_STATES])
    ]
    summary.applied_changes.extend(applied)
    for row in await conn.fetch(_SCHEDULES, target):
        summary.schedules.append(schedule_mappers.to_proto(schedules.from_row(row)))
    summary.workload.extend(workload_points(await conn.fetch(_WORKLOAD, target, period)))
    summary.improvement.CopyFrom(improvement(applied))
    return summary


def workload_points(rows: list[object]) -> list[job_service_pb2.WorkloadPoint]:
    """The series, oldest first; each point with its interval since the previous one when
    both count from the same statistics reset (and the counters did not go down)."""
    points: list[job_service_pb2.WorkloadPoint] = []
    previous = None
    for r in rows:
        row: dict[str, object] = dict(r)  # type: ignore[call-overload]
        p = job_service_pb2.WorkloadPoint(
            reason=str(row["reason"]),
            calls=int(row["calls"]),  # type: ignore[call-overload]
            total_exec_time_ms=float(row["total_exec_time_ms"]),  # type: ignore[arg-type]
        )
        when: datetime = row["time"]  # type: ignore[assignment]
        p.time.FromDatetime(when)
        if (
            previous is not None
            and previous["stats_reset"] == row["stats_reset"]
            and int(row["calls"]) >= int(previous["calls"])  # type: ignore[call-overload]
            and when > previous["time"]  # type: ignore[operator]
        ):
            p.has_interval = True
            p.interval_calls = int(row["calls"]) - int(previous["calls"])  # type: ignore[call-overload]
            p.interval_exec_time_ms = max(
                0.0,
                float(row["total_exec_time_ms"]) - float(previous["total_exec_time_ms"]),  # type: ignore[arg-type]
            )
            p.interval_seconds = (when - previous["time"]).total_seconds()  # type: ignore[operator]
        points.append(p)
        previous = row
    return points


@dataclass
class _Tally:
    before_ms: float = 0.0
    after_ms: float = 0.0
    saved_per_hour: float = 0.0


def _window_hours(v: verification_pb2.Verification) -> float:
    if not (v.HasField("apply_time") and v.HasField("end_time")):
        return 0.0
    return max((v.end_time.ToDatetime() - v.apply_time.ToDatetime()).total_seconds(), 0.0) / 3600


def improvement(applied: list[suggestion_pb2.Suggestion]) -> job_service_pb2.Improvement:
    """The headline figures from the verdicts of the changes in place (module docstring)."""
    out = job_service_pb2.Improvement()
    tally = _Tally()
    for s in applied:
        if s.state != suggestion_pb2.Suggestion.APPLIED:
            if s.state == suggestion_pb2.Suggestion.ROLLED_BACK:
                out.rolled_back += 1
            continue
        out.applied_changes += 1
        verdict = s.verdict
        if verdict == verification_pb2.IMPROVED:
            out.improved += 1
        elif verdict == verification_pb2.NO_EFFECT:
            out.no_effect += 1
        elif verdict == verification_pb2.REGRESSED:
            out.regressed += 1
        elif verdict == verification_pb2.INCONCLUSIVE:
            out.inconclusive += 1
        else:
            out.unverified += 1
        if verdict not in _MEASURED:
            continue
        v = s.verification_result
        before = after = 0.0
        for q in v.queries:
            if q.change not in _JUDGED or q.after.calls <= 0:
                continue
            before += q.after.calls * q.before.mean_ms
            after += q.after.calls * q.after.mean_ms
        tally.before_ms += before
        tally.after_ms += after
        hours = _window_hours(v)
        if hours > 0:
            tally.saved_per_hour += (before - after) / hours
    out.time_before_ms = tally.before_ms
    out.time_after_ms = tally.after_ms
    if tally.before_ms > 0:
        out.time_saved_percent = 100 * (tally.before_ms - tally.after_ms) / tally.before_ms
    if tally.after_ms > 0:
        out.speedup = tally.before_ms / tally.after_ms
    out.time_saved_ms_per_hour = tally.saved_per_hour
    out.headline = headline(out)
    return out


def _ms(value: float) -> str:
    value = abs(value)
    if value >= 60_000:
        return f"{value / 60_000:.1f} min"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms"


def pct(value: float) -> str:
    """A percentage as the headline gives it: whole numbers, but one decimal near 0 and
    near 100 (99.8 is not 100)."""
    v = abs(value)
    return f"{v:.1f}" if v < 10 or 99.5 <= v < 100 else f"{v:.0f}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def headline(i: job_service_pb2.Improvement) -> str:
    measured = i.improved + i.no_effect + i.regressed
    if i.applied_changes == 0:
        text = "No change pgsage applied is in place on this database"
        if i.rolled_back:
            text += f" ({_plural(i.rolled_back, 'change')} rolled back)"
        return text + "."
    if measured == 0 or i.time_before_ms <= 0:
        text = (
            f"{_plural(i.applied_changes, 'change')} in place, none measured yet: "
            "pgsage cannot say yet whether it made this database faster"
        )
    else:
        counts = ((i.improved, "improved"), (i.no_effect, "no effect"), (i.regressed, "regressed"))
        parts = [f"{n} {word}" for n, word in counts if n]
        if i.time_saved_percent >= 0:
            effect = f"the statements they touch take {pct(i.time_saved_percent)}% less time"
            if i.speedup:
                effect += f" ({i.speedup:.1f}x faster)"
            per_hour = f"; about {_ms(i.time_saved_ms_per_hour)} of execution saved per hour"
        else:
            effect = f"the statements they touch take {pct(i.time_saved_percent)}% more time"
            per_hour = f"; about {_ms(i.time_saved_ms_per_hour)} of execution lost per hour"
        text = f"{_plural(measured, 'verified change')} ({', '.join(parts)}): {effect}{per_hour}"
    rest = []
    if i.inconclusive:
        rest.append(f"{i.inconclusive} inconclusive")
    if i.unverified:
        rest.append(f"{i.unverified} awaiting verification")
    if i.rolled_back:
        rest.append(f"{i.rolled_back} rolled back")
    if rest:
        text += f" ({', '.join(rest)}, not counted)"
    return text + "."
