"""Comparing an analysis with the previous one of its target, as it succeeds.

"Previous" is the ANALYZE of the same target that finished last before this one, SUCCEEDED,
with the same analysis types and the same caller-given queries (none, for schedules and for
most analyses: pg_stat_statements is the workload) — so a scheduled series compares run to
run, and an ad-hoc analysis of three hand-picked queries never makes the next nightly run
look new. Suggestions are matched by fingerprint (the stable identity of a change on its
target):

- new: made now, not by the previous analysis (each is flagged `new_since_last_analysis`);
- gone: made by the previous analysis, not now;
- changed: made by both, with the estimated workload improvement moved by `POINTS` or more,
  or the estimated size by `SIZE_SHARE` or more (less is what statistics drift does to an
  estimate from one run to the next, not news);
- unchanged: the rest.

The comparison is stored in the job's summary (`summary.comparison`) and the flags set in
the transaction that makes the job SUCCEEDED, so a watcher sees the job finish with both.
The first analysis of a target has nothing to compare with: no comparison, no flags.
"""

# Statements here are assembled from constant fragments and numbered placeholders only.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from job_service import domain, names, runs
from job_service.database import Connection
from job_service.models import sql_value
from job_service.vocabulary import JobKind, JobState
from pgsage.jobs.v1 import job_pb2, suggestion_pb2

POINTS = 1.0  # percentage points of workload improvement
SIZE_SHARE = 0.10  # of the previous estimated size

_PREVIOUS = f"""
SELECT id, end_time FROM job
WHERE target = $1 AND kind = {sql_value(JobKind.ANALYZE)}
  AND state = {sql_value(JobState.SUCCEEDED)} AND id <> $2
  AND queries = $3::text[]
  AND ARRAY(SELECT t FROM unnest(analysis_types) AS t ORDER BY t COLLATE "C") = $4::text[]
ORDER BY end_time DESC, id DESC
LIMIT 1"""

_OF_PREVIOUS = """
SELECT id, job_id, fingerprint, title, kind, details FROM suggestion
WHERE job_id = $1 AND NOT superseded"""

_OF_THIS = """
SELECT id, job_id, fingerprint, title, kind, details FROM suggestion
WHERE job_id = $1 AND fingerprint = ANY($2::text[])"""

_MARK_NEW = """
UPDATE suggestion SET new_since_last_analysis = true, version = version + 1, update_time = now()
WHERE job_id = $1 AND fingerprint = ANY($2::text[]) AND NOT new_since_last_analysis"""


@dataclass(frozen=True)
class Found:
    """One suggestion as a comparison sees it."""

    fingerprint: str
    name: str
    title: str
    kind: str
    improvement: float
    size: int


def _found(row: Any) -> Found:
    details = suggestion_pb2.Suggestion.FromString(row["details"] or b"")
    return Found(
        fingerprint=row["fingerprint"],
        name=names.suggestion_name(row["job_id"], row["id"]),
        title=row["title"],
        kind=row["kind"],
        improvement=details.workload_improvement_percent,
        size=details.estimated_size_bytes,
    )


def _moved(before: Found, after: Found) -> bool:
    if abs(after.improvement - before.improvement) >= POINTS:
        return True
    if before.size <= 0:
        return after.size > 0
    return abs(after.size - before.size) >= SIZE_SHARE * before.size


def compare(
    previous: Sequence[Found], current: Sequence[Found], previous_job: str = ""
) -> job_pb2.AnalysisComparison:
    """What changed from `previous` to `current` (see the module docstring); pure."""
    before = {f.fingerprint: f for f in previous}
    after = {f.fingerprint: f for f in current}
    new = sorted(fp for fp in after if fp not in before)
    gone = [before[fp] for fp in sorted(before) if fp not in after]
    both = [(before[fp], after[fp]) for fp in sorted(after) if fp in before]
    changed = [(b, a) for b, a in both if _moved(b, a)]
    return job_pb2.AnalysisComparison(
        previous_job=previous_job,
        new_count=len(new),
        gone_count=len(gone),
        changed_count=len(changed),
        unchanged_count=len(both) - len(changed),
        new_fingerprints=new,
        gone=[
            job_pb2.ComparedSuggestion(
                fingerprint=g.fingerprint,
                suggestion=g.name,
                title=g.title,
                kind=g.kind,
                previous_improvement_percent=g.improvement,
                previous_size_bytes=g.size,
            )
            for g in gone
        ],
        changed=[
            job_pb2.ComparedSuggestion(
                fingerprint=a.fingerprint,
                suggestion=a.name,
                title=a.title,
                kind=a.kind,
                previous_improvement_percent=b.improvement,
                improvement_percent=a.improvement,
                previous_size_bytes=b.size,
                size_bytes=a.size,
            )
            for b, a in changed
        ],
    )


async def with_previous(
    conn: Connection, job: domain.Job, fingerprints: Sequence[str]
) -> job_pb2.AnalysisComparison | None:
    """The comparison of `job` (whose valid suggestions are `fingerprints`) with the previous
    analysis of its target, or None when there is none."""
    previous = await conn.fetchrow(
        _PREVIOUS, job.target, job.id, list(job.queries), sorted(job.analysis_types)
    )
    if previous is None:
        return None
    before = [_found(r) for r in await conn.fetch(_OF_PREVIOUS, previous["id"])]
    after = [_found(r) for r in await conn.fetch(_OF_THIS, job.id, list(fingerprints))]
    comparison = compare(before, after, names.job_name(previous["id"]))
    if previous["end_time"] is not None:
        comparison.previous_end_time.FromDatetime(previous["end_time"])
    return comparison


async def succeed(
    conn: Connection,
    job: domain.Job,
    owner: str,
    summary: job_pb2.Summary,
    fingerprints: Sequence[str],
    ttl: timedelta,
    insights: int | None,
) -> domain.Job | None:
    """`runs.succeed` with the comparison stored in the summary and the new suggestions
    flagged, in one transaction; None when the lease is lost (nothing is written).

    The flags are set before the job's state changes: the `job_webhook_events` trigger,
    which fires on that change, announces only the flagged suggestions when there was a
    previous analysis to compare with."""
    try:
        async with conn.transaction():
            comparison = await with_previous(conn, job, fingerprints)
            if comparison is not None:
                summary.comparison.CopyFrom(comparison)
                if comparison.new_fingerprints:
                    await conn.execute(_MARK_NEW, job.id, list(comparison.new_fingerprints))
            done = await runs.succeed(
                conn, job.id, owner, summary.SerializeToString(), fingerprints, ttl, insights
            )
            if done is None:
                raise _LeaseLost
    except _LeaseLost:
        return None
    return done


class _LeaseLost(Exception):
    """Rolls back the flags when another runner holds the job."""
