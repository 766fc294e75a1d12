"""The schedules repository: every read and change of the `schedule` table but the firing of
a tick (`job_service.scheduler`).

Like `job_service.jobs`: functions take a connection and never commit; every change is one
guarded statement (`WHERE id = ... AND version = ...` when an etag or a read version
guards it), and a guard that matched nothing is explained by one read (not found, etag
mismatch). `version` is the etag: it moves with the settings (update, pause, resume), never
with a tick, so a person editing a busy schedule is not refused because it ran meanwhile.
"""

# Statements here are assembled from constant fragments and numbered placeholders only;
# every value is a bind parameter.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from job_service import domain, errors, filters, jobs, names
from job_service.database import Connection


@dataclass(frozen=True)
class Schedule:
    """A schedule as stored (its options stay serialized `AnalysisOptions`)."""

    id: uuid.UUID
    display_name: str
    target: str
    cron: str
    time_zone: str
    analysis_types: tuple[str, ...]
    options: bytes | None
    paused: bool
    next_run_time: datetime | None
    last_run_time: datetime | None
    last_job_id: uuid.UUID | None
    creator: str
    creator_subject: str
    create_time: datetime
    update_time: datetime
    version: int
    request_id: str | None = None

    @property
    def name(self) -> str:
        return names.schedule_name(self.id)

    @property
    def etag(self) -> str:
        return domain.etag_of(self.version)


@dataclass(frozen=True)
class Settings:
    """What a person sets on a schedule (validated by `job_service.schedule_mappers`)."""

    display_name: str
    target: str
    cron: str
    time_zone: str
    analysis_types: tuple[str, ...]
    options: bytes | None


FILTER_FIELDS = {
    "target": filters.FieldSpec("text"),
    "paused": filters.FieldSpec("bool"),
}

_FIELDS = list(Schedule.__dataclass_fields__)
COLUMNS = ", ".join(_FIELDS)


def from_row(row: Any) -> Schedule:
    values = {f: row[f] for f in _FIELDS}
    values["analysis_types"] = tuple(values["analysis_types"] or ())
    return Schedule(**values)


_CREATE = f"""
INSERT INTO schedule AS s (id, request_id, display_name, target, cron, time_zone,
                           analysis_types, options, next_run_time, creator, creator_subject)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (request_id) DO UPDATE SET request_id = EXCLUDED.request_id
RETURNING {COLUMNS}, (xmax = 0) AS inserted"""


async def create(
    conn: Connection,
    settings: Settings,
    *,
    next_run_time: datetime,
    creator: str,
    creator_subject: str,
    request_id: str | None,
) -> tuple[Schedule, bool]:
    """Inserts a schedule (or returns the one with the same request id) and whether this
    call created it."""
    row = await conn.fetchrow(
        _CREATE,
        uuid.uuid4(),
        request_id,
        settings.display_name,
        settings.target,
        settings.cron,
        settings.time_zone,
        list(settings.analysis_types),
        settings.options,
        next_run_time,
        creator,
        creator_subject,
    )
    return from_row(row), bool(row["inserted"])


async def get(conn: Connection, schedule_id: uuid.UUID) -> Schedule:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM schedule WHERE id = $1", schedule_id)
    if row is None:
        raise errors.ScheduleNotFound(names.schedule_name(schedule_id))
    return from_row(row)


async def list_page(
    conn: Connection,
    flt: filters.Filter,
    position: tuple[datetime, uuid.UUID] | None,
    limit: int,
    visible: list[str] | None = None,
) -> domain.Page:
    """One page of schedules, newest first, keyset after `position`, of the targets
    matching `visible` (None: all)."""
    params = jobs.Params()
    where = jobs.visibility(params, visible)
    for term in flt.terms:
        where.append(f"{term.field} = {params.add(term.values[0])}")
    if position is not None:
        where.append(f"(create_time, id) < ({params.add(position[0])}, {params.add(position[1])})")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM schedule {clause} "
        f"ORDER BY create_time DESC, id DESC LIMIT {params.add(limit + 1)}",
        *params.values,
    )
    items = tuple(from_row(r) for r in rows[:limit])
    more = len(rows) > limit
    return domain.Page(items, (items[-1].create_time, items[-1].id) if more else None)


async def _explain(conn: Connection, schedule_id: uuid.UUID, etag: str) -> Schedule:
    """After a guard matched nothing: NOT_FOUND, ABORTED for a stale etag, or the schedule."""
    current = await get(conn, schedule_id)
    if etag and current.version != jobs.expected_version(etag):
        raise errors.EtagMismatch(current.name, etag, current.etag)
    return current


_UPDATE = f"""
UPDATE schedule SET display_name = $3, target = $4, cron = $5, time_zone = $6,
                    analysis_types = $7, options = $8,
                    next_run_time = CASE WHEN paused THEN NULL
                                         ELSE COALESCE($9, next_run_time) END,
                    version = version + 1, update_time = now()
WHERE id = $1 AND version = $2
RETURNING {COLUMNS}"""


async def update(
    conn: Connection,
    current: Schedule,
    settings: Settings,
    next_run_time: datetime | None,
) -> Schedule:
    """Writes `settings` over `current` (as read), if nobody changed its settings meanwhile.

    `next_run_time`: the first tick of a changed cron or time zone (None: unchanged).
    """
    row = await conn.fetchrow(
        _UPDATE,
        current.id,
        current.version,
        settings.display_name,
        settings.target,
        settings.cron,
        settings.time_zone,
        list(settings.analysis_types),
        settings.options,
        next_run_time,
    )
    if row is None:
        latest = await get(conn, current.id)
        raise errors.EtagMismatch(current.name, current.etag, latest.etag)
    return from_row(row)


_PAUSE = f"""
UPDATE schedule SET paused = true, next_run_time = NULL, version = version + 1,
                    update_time = now()
WHERE id = $1 AND NOT paused AND ($2::bigint IS NULL OR version = $2)
RETURNING {COLUMNS}"""


async def pause(conn: Connection, schedule_id: uuid.UUID, etag: str) -> tuple[Schedule, bool]:
    """Pauses it; a paused schedule comes back unchanged. Returns whether this paused it."""
    row = await conn.fetchrow(_PAUSE, schedule_id, jobs.expected_version(etag))
    if row is not None:
        return from_row(row), True
    return await _explain(conn, schedule_id, etag), False


_RESUME = f"""
UPDATE schedule SET paused = false, next_run_time = $3, version = version + 1,
                    update_time = now()
WHERE id = $1 AND paused AND version = $2
RETURNING {COLUMNS}"""


async def resume(
    conn: Connection, current: Schedule, next_run_time: datetime
) -> tuple[Schedule, bool]:
    """Resumes `current` (as read, paused) from `next_run_time`; a running schedule comes
    back unchanged. Returns whether this resumed it."""
    row = await conn.fetchrow(_RESUME, current.id, current.version, next_run_time)
    if row is not None:
        return from_row(row), True
    latest = await get(conn, current.id)
    if not latest.paused:
        return latest, False
    raise errors.EtagMismatch(current.name, current.etag, latest.etag)


async def delete(conn: Connection, schedule_id: uuid.UUID, etag: str) -> Schedule:
    """Deletes it (its jobs stay); returns it as it was."""
    row = await conn.fetchrow(
        f"DELETE FROM schedule WHERE id = $1 AND ($2::bigint IS NULL OR version = $2) "
        f"RETURNING {COLUMNS}",
        schedule_id,
        jobs.expected_version(etag),
    )
    if row is not None:
        return from_row(row)
    current = await _explain(conn, schedule_id, etag)  # changed between the two statements
    raise errors.EtagMismatch(current.name, etag, current.etag)
