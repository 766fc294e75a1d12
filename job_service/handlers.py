"""What every handler of `servicer.JobServicer` shares: who the caller is, and the lookups
that check the caller may see (and act on) a job or a suggestion before anything else.

Every handler asks `authz` first: no role at all is PERMISSION_DENIED before any lookup; a
resource on a target the caller may not view is NOT_FOUND, as if unknown.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import grpc

from job_service import (
    audit,
    authz,
    database,
    domain,
    errors,
    jobs,
    monitors,
    names,
    notifications,
    optimizer,
    suggestions,
)
from job_service.principals import Principal, Role


class HandlerBase:
    """The state the handler mixins share (set by `JobServicer.__init__`)."""

    _db: database.Database
    _policy: authz.Policy
    _listener: notifications.Listener
    _optimizer: optimizer.OptimizerClient
    _ttl: timedelta
    _max_attempts: int
    database_monitor: monitors.DatabaseMonitor | None

    async def _job(
        self,
        conn: database.Connection,
        caller: Principal,
        job_id: uuid.UUID,
        role: Role = Role.VIEWER,
        permission: str = "jobs.get",
    ) -> domain.Job:
        """The job, if `caller` may view it (NOT_FOUND otherwise, as if unknown) and holds
        `role` on its target (PERMISSION_DENIED naming `permission` otherwise)."""
        job = await jobs.get(conn, job_id)
        authz.visible(caller, job.target, errors.JobNotFound(names.job_name(job_id)))
        authz.require(caller, role, job.target, permission=permission)
        return job

    async def _suggestion(
        self,
        conn: database.Connection,
        caller: Principal,
        job_id: uuid.UUID,
        suggestion_id: uuid.UUID,
        role: Role = Role.VIEWER,
        permission: str = "suggestions.get",
    ) -> domain.Suggestion:
        """Like `_job`, for a suggestion."""
        found = await suggestions.get(conn, job_id, suggestion_id)
        hidden = errors.SuggestionNotFound(names.suggestion_name(job_id, suggestion_id))
        authz.visible(caller, found.target, hidden)
        authz.require(caller, role, found.target, permission=permission)
        return found


def _caller(context: grpc.aio.ServicerContext) -> Principal:
    """The verified caller, refused before any lookup when it holds no role at all."""
    caller = authz.principal_of(context)
    authz.require_any(caller)
    return caller


def _entry(caller: Principal, **fields: Any) -> audit.Entry:
    """An audit entry of what `caller` did. Every caller is verified (a token, or in local
    mode the OS user; `actor_method` says which), so `authenticated` is always true: false
    marks only records from before pgsage authenticated callers."""
    return audit.Entry(
        actor=caller.display_name,
        actor_subject=caller.subject,
        actor_method=caller.method.value,
        authenticated=True,
        **fields,
    )
