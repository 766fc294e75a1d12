"""The suggestions repository: reads and guarded changes of the `suggestion` table.

Like `job_service.jobs`: functions take a connection and never commit; every change is one
guarded `UPDATE ... WHERE id = ... AND state IN (...) AND version = ...`, and a guard that
matches nothing is explained by one read (not found, etag mismatch, wrong state).
"""

# Statements here are assembled from constant fragments and numbered placeholders only;
# every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from job_service import domain, errors, filters, jobs, names
from job_service.database import Connection
from job_service.models import sql_in
from job_service.vocabulary import (
    EDITABLE_STATES,
    SUGGESTION_KINDS,
    SUGGESTION_STATES,
    SUGGESTIONS,
    SuggestionAction,
    SuggestionState,
    Verdict,
)

FILTER_FIELDS = {
    "state": filters.FieldSpec("enum", frozenset(SUGGESTION_STATES)),
    "kind": filters.FieldSpec("enum", frozenset(SUGGESTION_KINDS)),
    "target": filters.FieldSpec("text"),
    "job": filters.FieldSpec("job"),
    "superseded": filters.FieldSpec("bool"),
    "benchmarked": filters.FieldSpec("bool"),
    "create_time": filters.FieldSpec("time"),
    "verdict": filters.FieldSpec("enum", frozenset(Verdict)),
}

_FIELDS = [f for f in domain.Suggestion.__dataclass_fields__]
COLUMNS = ", ".join(_FIELDS)


def from_row(row: Any) -> domain.Suggestion:
    """A suggestion from a row holding `COLUMNS`."""
    return _suggestion(row)


def _suggestion(row: Any) -> domain.Suggestion:
    values = {f: row[f] for f in _FIELDS}
    values["benchmarks"] = tuple(values["benchmarks"] or ())
    return domain.Suggestion(**values)


_ADD = f"""
WITH s AS (
    INSERT INTO suggestion (id, job_id, kind, state, target, title, fingerprint, sql,
                            rollback_sql, details, attempt, prior_decision)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    RETURNING *
), u AS (
    UPDATE job SET suggestion_count = suggestion_count + 1, revision = revision + 1,
                   update_time = now()
    WHERE id = (SELECT job_id FROM s)
    RETURNING *
), e AS (
    INSERT INTO job_event (job_id, revision, event_type, event_time, snapshot, suggestion_id)
    SELECT u.id, u.revision, 'suggestion', u.update_time, to_jsonb(u) - 'workload', $1 FROM u
)
SELECT {COLUMNS}, (SELECT {jobs.NOTIFY} FROM u) FROM s"""


async def add(conn: Connection, job_id: uuid.UUID, new: domain.NewSuggestion) -> domain.Suggestion:
    """Stores a suggestion of a job, counts it on the job and tells the job's watchers.

    A second suggestion with the same fingerprint for one job violates
    `uq_suggestion_job_id_fingerprint` (translated by the caller's database layer).
    """
    row = await conn.fetchrow(
        _ADD,
        new.id,
        job_id,
        new.kind,
        new.state,
        new.target,
        new.title,
        new.fingerprint,
        new.sql,
        new.rollback_sql,
        new.details,
        new.attempt,
        new.prior_decision,
    )
    return _suggestion(row)


async def get(conn: Connection, job_id: uuid.UUID, suggestion_id: uuid.UUID) -> domain.Suggestion:
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM suggestion WHERE id = $1 AND job_id = $2", suggestion_id, job_id
    )
    if row is None:
        raise errors.SuggestionNotFound(names.suggestion_name(job_id, suggestion_id))
    return _suggestion(row)


async def get_many(conn: Connection, ids: list[uuid.UUID]) -> dict[uuid.UUID, domain.Suggestion]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM suggestion WHERE id = ANY($1)", ids)
    return {r["id"]: _suggestion(r) for r in rows}


async def list_page(
    conn: Connection,
    job_id: uuid.UUID | None,
    flt: filters.Filter,
    position: tuple[datetime, uuid.UUID] | None,
    limit: int,
    visible: list[str] | None = None,
) -> domain.Page:
    """One page of suggestions (of one job, or all), newest first, keyset after `position`,
    of the targets matching `visible` (None: all)."""
    params = jobs.Params()
    where: list[str] = jobs.visibility(params, visible)
    if job_id is not None:
        where.append(f"job_id = {params.add(job_id)}")
    for term in flt.terms:
        if term.field in ("state", "kind"):
            where.append(f"{term.field} = ANY({params.add(list(term.values))})")
        elif term.field == "target":
            where.append(f"target = {params.add(term.values[0])}")
        elif term.field == "job":
            where.append(f"job_id = {params.add(term.values[0])}")
        elif term.field == "superseded":
            where.append(f"superseded = {params.add(term.values[0])}")
        elif term.field == "benchmarked":
            op = ">" if term.values[0] else "="
            where.append(f"cardinality(benchmarks) {op} 0")
        elif term.field == "create_time":
            where.append(f"create_time {term.op} {params.add(term.values[0])}")
        elif term.field == "verdict":
            where.append(f"verdict = ANY({params.add(list(term.values))})")
    if position is not None:
        where.append(f"(create_time, id) < ({params.add(position[0])}, {params.add(position[1])})")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM suggestion {clause} "
        f"ORDER BY create_time DESC, id DESC LIMIT {params.add(limit + 1)}",
        *params.values,
    )
    items = tuple(_suggestion(r) for r in rows[:limit])
    more = len(rows) > limit
    return domain.Page(items, (items[-1].create_time, items[-1].id) if more else None)


async def _explain(
    conn: Connection, job_id: uuid.UUID, suggestion_id: uuid.UUID, etag: str
) -> domain.Suggestion:
    current = await get(conn, job_id, suggestion_id)
    if etag and current.version != jobs.expected_version(etag):
        raise errors.EtagMismatch(names.suggestion_name(job_id, suggestion_id), etag, current.etag)
    return current


_DECIDE = f"""
UPDATE suggestion SET state = $4, dismiss_reason = coalesce($5, dismiss_reason),
                      approver_subject = $6, approver_name = $7,
                      version = version + 1, update_time = now()
WHERE id = $1 AND job_id = $2 AND {sql_in("state", SUGGESTIONS.sources(SuggestionAction.DECIDE))}
  AND NOT superseded
  AND ($3::bigint IS NULL OR version = $3)
RETURNING {COLUMNS}"""


async def decide(
    conn: Connection,
    job_id: uuid.UUID,
    suggestion_id: uuid.UUID,
    *,
    state: str,
    etag: str,
    dismiss_reason: str | None = None,
    decider: tuple[str, str] | None = None,
) -> domain.Suggestion:
    """PENDING → APPROVED or DISMISSED. Deciding the same way again returns it unchanged.

    `decider` (subject, display name) is stored as the approver of an approval.
    """
    if state not in SUGGESTIONS.results(SuggestionAction.DECIDE):
        raise ValueError(f"a decision is APPROVED or DISMISSED, not {state!r}")
    approver = decider if state == SuggestionState.APPROVED and decider else (None, None)
    row = await conn.fetchrow(
        _DECIDE,
        suggestion_id,
        job_id,
        jobs.expected_version(etag),
        state,
        dismiss_reason,
        *approver,
    )
    if row is not None:
        return _suggestion(row)
    current = await _explain(conn, job_id, suggestion_id, etag)
    if current.state == state:
        return current
    action = "approve" if state == SuggestionState.APPROVED else "dismiss"
    name = names.suggestion_name(job_id, suggestion_id)
    if current.superseded and current.state in SUGGESTIONS.sources(SuggestionAction.DECIDE):
        raise errors.InvalidStateTransition(
            name, "superseded", action, why="a later attempt of its job did not reach it again"
        )
    raise errors.InvalidStateTransition(
        name, current.state, action, why="only a PENDING suggestion can be decided"
    )


# An edit of the statement sends these back to PENDING (what was approved would not run).
_REVOKED = sql_in("state", SUGGESTIONS.sources(SuggestionAction.EDIT))
_UPDATE = f"""
UPDATE suggestion SET notes = $4, edited_sql = $5, edited_rollback_sql = $6,
                      state = CASE WHEN $7 AND {_REVOKED} THEN '{SuggestionState.PENDING}'
                                   ELSE state END,
                      approver_subject = CASE WHEN $7 AND {_REVOKED} THEN NULL
                                              ELSE approver_subject END,
                      approver_name = CASE WHEN $7 AND {_REVOKED} THEN NULL
                                           ELSE approver_name END,
                      version = version + 1, update_time = now()
WHERE id = $1 AND job_id = $2 AND version = $3
  AND (NOT $7 OR {sql_in("state", EDITABLE_STATES)})
RETURNING {COLUMNS}"""


async def update(
    conn: Connection,
    current: domain.Suggestion,
    *,
    notes: str,
    edited_sql: str | None,
    edited_rollback_sql: str | None,
) -> domain.Suggestion:
    """Writes notes and the edit of `current` (as read), if nobody changed it meanwhile.

    A changed statement sends an APPROVED suggestion back to PENDING: what was approved
    is not what would now run.
    """
    sql_changed = edited_sql != current.edited_sql
    row = await conn.fetchrow(
        _UPDATE,
        current.id,
        current.job_id,
        current.version,
        notes,
        edited_sql,
        edited_rollback_sql,
        sql_changed,
    )
    if row is None:
        latest = await get(conn, current.job_id, current.id)
        raise errors.EtagMismatch(
            names.suggestion_name(current.job_id, current.id), current.etag, latest.etag
        )
    return _suggestion(row)
