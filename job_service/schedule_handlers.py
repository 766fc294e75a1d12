"""`pgsage.jobs.v1.ScheduleService`: create, read, list, update, pause, resume and delete
schedules of analyses.

Roles, per target as everywhere: a viewer reads a schedule; an operator (who may create the
ANALYZE jobs a schedule creates) creates, updates, pauses, resumes and deletes it — deleting
a schedule loses nothing, its jobs and audit records stay. Changing a schedule's target
needs the operator role on both targets. A schedule on a target the caller may not view
answers as an unknown one. Every change is audited in the transaction that makes it (action
`schedule.<verb>`, resource `schedules/{id}`); the jobs its ticks create are audited by the
scheduler (`job_service.scheduler`).

The target must be one the optimizer knows (asked before anything is written, outside any
transaction); an optimizer that cannot be asked is UNAVAILABLE.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import empty_pb2

from job_service import (
    audit,
    authz,
    cron,
    database,
    errors,
    filters,
    jobs,
    names,
    optimizer,
    pagination,
    schedule_mappers,
    schedules,
)
from job_service.handlers import _caller, _entry
from job_service.principals import Principal, Role
from pgsage.jobs.v1 import schedule_pb2, schedule_pb2_grpc

log = logging.getLogger(__name__)


class ScheduleServicer(schedule_pb2_grpc.ScheduleServiceServicer):
    """See the module docstring."""

    def __init__(
        self,
        *,
        db: database.Database,
        optimizer_client: optimizer.OptimizerClient,
        min_interval: timedelta,
    ) -> None:
        self._db = db
        self._optimizer = optimizer_client
        self._min_interval = min_interval

    async def CreateSchedule(
        self, request: schedule_pb2.CreateScheduleRequest, context: grpc.aio.ServicerContext
    ) -> schedule_pb2.Schedule:
        caller = _caller(context)
        if not request.HasField("schedule"):
            raise errors.MissingField("schedule")
        if len(request.request_id) > schedule_mappers.MAX_REQUEST_ID:
            raise errors.InvalidField(
                "request_id",
                f"request_id is at most {schedule_mappers.MAX_REQUEST_ID} characters",
            )
        settings, parsed = schedule_mappers.settings_of(
            request.schedule, min_interval=self._min_interval
        )
        authz.require(caller, Role.OPERATOR, settings.target, permission="schedules.create")
        await self._check_target(caller, settings.target)
        async with self._db.transaction() as conn:
            created, new = await schedules.create(
                conn,
                settings,
                next_run_time=parsed.next_after(datetime.now(UTC)),
                creator=caller.display_name,
                creator_subject=caller.subject,
                request_id=request.request_id or None,
            )
            authz.visible(caller, created.target, errors.ScheduleNotFound(created.name))
            if new:
                await self._audit(conn, caller, "create", created, f"cron {created.cron!r}")
        if new:
            log.info("created %s (%s on %s)", created.name, created.cron, created.target)
        return schedule_mappers.to_proto(created)

    async def GetSchedule(
        self, request: schedule_pb2.GetScheduleRequest, context: grpc.aio.ServicerContext
    ) -> schedule_pb2.Schedule:
        caller = _caller(context)
        schedule_id = names.parse_schedule(request.name)
        async with self._db.connection() as conn:
            found = await self._schedule(conn, caller, schedule_id)
        return schedule_mappers.to_proto(found)

    async def ListSchedules(
        self, request: schedule_pb2.ListSchedulesRequest, context: grpc.aio.ServicerContext
    ) -> schedule_pb2.ListSchedulesResponse:
        caller = _caller(context)
        flt = filters.parse(request.filter, schedules.FILTER_FIELDS)
        size = pagination.page_size(request.page_size)
        position = pagination.decode(request.page_token, flt.digest)
        async with self._db.connection() as conn:
            page = await schedules.list_page(
                conn, flt, position, size, authz.visible_patterns(caller)
            )
        return schedule_pb2.ListSchedulesResponse(
            schedules=[schedule_mappers.to_proto(s) for s in page.items],
            next_page_token=(
                pagination.encode(page.next_position, flt.digest) if page.next_position else ""
            ),
        )

    async def UpdateSchedule(
        self, request: schedule_pb2.UpdateScheduleRequest, context: grpc.aio.ServicerContext
    ) -> schedule_pb2.Schedule:
        caller = _caller(context)
        if not request.HasField("schedule"):
            raise errors.MissingField("schedule")
        given = request.schedule
        schedule_id = names.parse_schedule(given.name, field="schedule.name")
        async with self._db.connection() as conn:
            current = await self._schedule(
                conn, caller, schedule_id, Role.OPERATOR, "schedules.update"
            )
        _check_etag(current, given.etag)
        wanted = schedule_mappers.merged(current, given, list(request.update_mask.paths))
        settings, parsed = schedule_mappers.settings_of(wanted, min_interval=self._min_interval)
        if settings.target != current.target:
            authz.require(caller, Role.OPERATOR, settings.target, permission="schedules.update")
            await self._check_target(caller, settings.target)
        moved = (settings.cron, settings.time_zone) != (current.cron, current.time_zone)
        first = parsed.next_after(datetime.now(UTC)) if moved else None
        async with self._db.transaction() as conn:
            updated = await schedules.update(conn, current, settings, first)
            await self._audit(conn, caller, "update", updated, _changes(current, updated))
        log.info("updated %s", updated.name)
        return schedule_mappers.to_proto(updated)

    async def DeleteSchedule(
        self, request: schedule_pb2.DeleteScheduleRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        caller = _caller(context)
        schedule_id = names.parse_schedule(request.name)
        async with self._db.transaction() as conn:
            await self._schedule(conn, caller, schedule_id, Role.OPERATOR, "schedules.delete")
            deleted = await schedules.delete(conn, schedule_id, request.etag)
            await self._audit(conn, caller, "delete", deleted, "its jobs stay")
        log.info("deleted %s", deleted.name)
        return empty_pb2.Empty()

    async def PauseSchedule(
        self, request: schedule_pb2.PauseScheduleRequest, context: grpc.aio.ServicerContext
    ) -> schedule_pb2.Schedule:
        caller = _caller(context)
        schedule_id = names.parse_schedule(request.name)
        async with self._db.transaction() as conn:
            await self._schedule(conn, caller, schedule_id, Role.OPERATOR, "schedules.pause")
            paused, changed = await schedules.pause(conn, schedule_id, request.etag)
            if changed:
                await self._audit(conn, caller, "pause", paused, "no jobs until resumed")
        return schedule_mappers.to_proto(paused)

    async def ResumeSchedule(
        self, request: schedule_pb2.ResumeScheduleRequest, context: grpc.aio.ServicerContext
    ) -> schedule_pb2.Schedule:
        caller = _caller(context)
        schedule_id = names.parse_schedule(request.name)
        async with self._db.connection() as conn:
            current = await self._schedule(
                conn, caller, schedule_id, Role.OPERATOR, "schedules.resume"
            )
        _check_etag(current, request.etag)
        if not current.paused:
            return schedule_mappers.to_proto(current)
        first = cron.Cron(current.cron, current.time_zone).next_after(datetime.now(UTC))
        async with self._db.transaction() as conn:
            resumed, changed = await schedules.resume(conn, current, first)
            if changed:
                detail = f"next tick {first.isoformat()}"
                await self._audit(conn, caller, "resume", resumed, detail)
        return schedule_mappers.to_proto(resumed)

    # -- shared ----------------------------------------------------------------------

    async def _schedule(
        self,
        conn: database.Connection,
        caller: Principal,
        schedule_id: uuid.UUID,
        role: Role = Role.VIEWER,
        permission: str = "schedules.get",
    ) -> schedules.Schedule:
        """The schedule, if `caller` may view it (NOT_FOUND otherwise, as if unknown) and
        holds `role` on its target (PERMISSION_DENIED naming `permission` otherwise)."""
        found = await schedules.get(conn, schedule_id)
        authz.visible(caller, found.target, errors.ScheduleNotFound(found.name))
        authz.require(caller, role, found.target, permission=permission)
        return found

    async def _check_target(self, caller: Principal, target: str) -> None:
        """INVALID_ARGUMENT naming `schedule.target` unless the optimizer knows `target`."""
        known = [t.name for t in await self._optimizer.list_targets()]
        if target in known:
            return
        visible = [name for name in known if caller.role_on(name) is not None]
        raise errors.InvalidField(
            "schedule.target",
            f"the optimizer knows no target {target!r}"
            + (f" (yours: {', '.join(sorted(visible)[:20])})" if visible else ""),
        )

    async def _audit(
        self,
        conn: database.Connection,
        caller: Principal,
        verb: str,
        schedule: schedules.Schedule,
        detail: str,
    ) -> None:
        await audit.record(
            conn,
            _entry(
                caller,
                action=f"schedule.{verb}",
                resource=schedule.name,
                target=schedule.target,
                outcome="OK",
                detail=detail,
            ),
        )


def _check_etag(current: schedules.Schedule, etag: str) -> None:
    if etag and jobs.expected_version(etag) != current.version:
        raise errors.EtagMismatch(current.name, etag, current.etag)


def _changes(before: schedules.Schedule, after: schedules.Schedule) -> str:
    """What an update changed, for the audit record."""
    parts = [
        f"{field} {getattr(before, field)!r} -> {getattr(after, field)!r}"
        for field in ("display_name", "target", "cron", "time_zone", "analysis_types")
        if getattr(before, field) != getattr(after, field)
    ]
    if before.options != after.options:
        parts.append("options changed")
    return "; ".join(parts) or "nothing changed"
