"""One change at a time, guaranteed by the database (issue 11, item 5).

- `uq_job_suggestion_id_live`: at most one live (PENDING, RUNNING, CANCELLING) BENCHMARK,
  APPLY or ROLLBACK job per suggestion. Twenty concurrent CreateJob calls create one job.
- `uq_suggestion_target_fingerprint_live`: at most one suggestion per (target,
  fingerprint) in a state where its change is, or may be, on the target (APPLYING, APPLIED,
  ROLLING_BACK, ROLLBACK_FAILED): "two suggestions with one fingerprint are never both
  applied" (DESIGN.md). APPLY_FAILED is not counted: it may be applied again, and that
  apply then meets this constraint.

Existing rows that break a rule (written by the race these constraints close) are settled
before the indexes are built, so the upgrade never fails on old data:

- of several live change jobs on one suggestion, the one already running (else the oldest)
  stays; the others end FAILED with FAILED_PRECONDITION / DUPLICATE_CHANGE_JOB naming it;
- of several live suggestions on one (target, fingerprint), the one in flight (APPLYING,
  ROLLING_BACK), else the earliest changed, keeps the change; the others become
  APPLY_FAILED, their `failure_reason` naming the one that holds it (the index on the
  target is one and the same: its rollback belongs to one suggestion only).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:40:00
"""

# The statements are built from the constant predicates above them only.
# ruff: noqa: S608

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pgsage import errors

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_LIVE_JOB = (
    "kind IN ('BENCHMARK', 'APPLY', 'ROLLBACK') AND state IN ('PENDING', 'RUNNING', 'CANCELLING')"
)
_LIVE_SUGGESTION = "state IN ('APPLYING', 'APPLIED', 'ROLLING_BACK', 'ROLLBACK_FAILED')"

_FAIL_DUPLICATE_JOBS = f"""
WITH ranked AS (
    SELECT id, suggestion_id,
           first_value(id) OVER w AS kept,
           row_number() OVER w AS n
    FROM job WHERE suggestion_id IS NOT NULL AND {_LIVE_JOB}
    WINDOW w AS (PARTITION BY suggestion_id
                 ORDER BY (state = 'PENDING'), create_time, id)
), u AS (
    UPDATE job SET state = 'FAILED', end_time = now(), expire_time = now() + interval '30 days',
                   lease_owner = NULL, lease_expire_time = NULL,
                   error = :error, progress_message = 'failed by migration 0008: jobs/'
                   || r.kept || ' was already live for the same suggestion',
                   revision = revision + 1, update_time = now()
    FROM ranked r WHERE job.id = r.id AND r.n > 1
    RETURNING job.*
)
INSERT INTO job_event (job_id, revision, event_type, event_time, snapshot)
SELECT id, revision, 'failed', update_time, to_jsonb(u) - 'workload' FROM u
"""

_SETTLE_TWINS = f"""
WITH ranked AS (
    SELECT id, job_id,
           first_value('jobs/' || job_id || '/suggestions/' || id) OVER w AS kept,
           row_number() OVER w AS n
    FROM suggestion WHERE {_LIVE_SUGGESTION}
    WINDOW w AS (PARTITION BY target, fingerprint
                 ORDER BY (state NOT IN ('APPLYING', 'ROLLING_BACK')), update_time, id)
)
UPDATE suggestion s SET state = 'APPLY_FAILED',
    failure_reason = 'settled by migration 0008: the same change on this target is held by '
                     || r.kept,
    version = version + 1, update_time = now()
FROM ranked r WHERE s.id = r.id AND r.n > 1
"""


def _duplicate_error() -> bytes:
    status = errors.FailedPrecondition(
        "another live change job already acted on this suggestion; this one was failed when "
        "the job store started to enforce one change job at a time",
        reason="DUPLICATE_CHANGE_JOB",
    ).to_status()
    return status.SerializeToString()


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text(_FAIL_DUPLICATE_JOBS), {"error": _duplicate_error()})
    bind.execute(sa.text(_SETTLE_TWINS))
    op.create_index(
        "uq_job_suggestion_id_live",
        "job",
        ["suggestion_id"],
        unique=True,
        postgresql_where=sa.text(_LIVE_JOB),
    )
    op.create_index(
        "uq_suggestion_target_fingerprint_live",
        "suggestion",
        ["target", "fingerprint"],
        unique=True,
        postgresql_where=sa.text(_LIVE_SUGGESTION),
    )


def downgrade() -> None:
    # The rows settled on the way up stay settled: which of them was "right" is not known.
    op.drop_index("uq_suggestion_target_fingerprint_live", table_name="suggestion")
    op.drop_index("uq_job_suggestion_id_live", table_name="job")
