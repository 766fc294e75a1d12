"""The audit trail's repository: append a record, list them newest first.

Records are appended in the same transaction as the change they describe (a suggestion's
state change), or — for statements a job runs on a target — before the statement runs
(`INTENT`) and again with its outcome. They are never updated, and never deleted with a job.
"""

# Statements here are assembled from constant fragments and numbered placeholders only.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from job_service import domain, filters, jobs
from job_service.database import Connection

FILTER_FIELDS = {
    "resource": filters.FieldSpec("text"),
    "job": filters.FieldSpec("job"),
    "target": filters.FieldSpec("text"),
    "action": filters.FieldSpec("text"),
    "actor": filters.FieldSpec("text"),
    "on_behalf_of": filters.FieldSpec("text"),
    "time": filters.FieldSpec("time"),
}


@dataclass(frozen=True)
class Entry:
    """One audit record (what the repository stores and returns)."""

    actor: str
    action: str
    resource: str
    outcome: str
    job_id: uuid.UUID | None = None
    target: str = ""
    statement: str = ""
    detail: str = ""
    from_state: str = ""
    to_state: str = ""
    on_behalf_of: str = ""
    authenticated: bool = False
    # The verified principal's stable subject and how it signed in (`principals.AuthMethod`).
    actor_subject: str = ""
    actor_method: str = ""
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    time: datetime | None = None
    # Set by the database when the record joins the hash chain (read back, never written).
    digest: str = ""


# One statement for the caller; the `audit_record_append` trigger chains the record
# (position, predecessor's digest, digest) under an advisory lock held to commit.
_INSERT = """
INSERT INTO audit_record (id, actor, authenticated, action, resource, job_id, target,
                          statement, outcome, detail, from_state, to_state, on_behalf_of,
                          actor_subject, actor_method)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"""


async def record(conn: Connection, entry: Entry) -> None:
    """Appends `entry` to the trail (and to its hash chain)."""
    await conn.execute(
        _INSERT,
        entry.id,
        entry.actor,
        entry.authenticated,
        entry.action,
        entry.resource,
        entry.job_id,
        entry.target,
        entry.statement,
        entry.outcome,
        entry.detail[:2000],
        entry.from_state,
        entry.to_state,
        entry.on_behalf_of,
        entry.actor_subject,
        entry.actor_method,
    )


_INSERT_MANY = """
INSERT INTO audit_record (id, actor, authenticated, action, resource, job_id, target,
                          statement, outcome, detail, from_state, to_state, on_behalf_of,
                          actor_subject, actor_method)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::boolean[], $4::text[], $5::text[],
                     $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[],
                     $11::text[], $12::text[], $13::text[], $14::text[], $15::text[])"""


async def record_many(conn: Connection, entries: list[Entry]) -> None:
    """Appends `entries`, in order, in one statement (a scheduler's batch of ticks)."""
    if not entries:
        return
    columns = list(
        zip(
            *(
                (
                    e.id,
                    e.actor,
                    e.authenticated,
                    e.action,
                    e.resource,
                    e.job_id,
                    e.target,
                    e.statement,
                    e.outcome,
                    e.detail[:2000],
                    e.from_state,
                    e.to_state,
                    e.on_behalf_of,
                    e.actor_subject,
                    e.actor_method,
                )
                for e in entries
            ),
            strict=True,
        )
    )
    await conn.execute(_INSERT_MANY, *(list(c) for c in columns))


_COLUMNS = (
    "id, time, actor, authenticated, action, resource, job_id, target, statement, outcome, "
    "detail, from_state, to_state, on_behalf_of, actor_subject, actor_method, digest"
)


async def list_page(
    conn: Connection,
    flt: filters.Filter,
    position: tuple[datetime, uuid.UUID] | None,
    limit: int,
    visible: list[str] | None = None,
) -> domain.Page:
    """One page of records, newest first, keyset after `position`, of the targets matching
    `visible` (None: all, records without a target included; otherwise those are left out:
    they are for admins of every target)."""
    params = jobs.Params()
    where: list[str] = jobs.visibility(params, visible)
    if visible is not None:
        where.append("target <> ''")
    for term in flt.terms:
        column = "job_id" if term.field == "job" else term.field
        op = term.op if term.field == "time" else "="
        where.append(f"{column} {op} {params.add(term.values[0])}")
    if position is not None:
        where.append(f"(time, id) < ({params.add(position[0])}, {params.add(position[1])})")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM audit_record {clause} ORDER BY time DESC, id DESC "
        f"LIMIT {params.add(limit + 1)}",
        *params.values,
    )
    items = tuple(Entry(**dict(r)) for r in rows[:limit])
    more = len(rows) > limit
    last = items[-1] if more else None
    # Rows read back always carry their time (the column is NOT NULL).
    return domain.Page(items, (last.time, last.id) if last and last.time else None)
