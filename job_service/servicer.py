"""`pgsage.jobs.v1.JobService`: validates each request, runs it in one transaction, maps it.

Handlers raise `job_service.errors`; `pgsage.rpc.ErrorInterceptor` turns them into rich
statuses. Single-statement RPCs (create, get, list, cancel, retry, delete, approve,
dismiss) run one guarded statement in autocommit — a statement is its own transaction —
and only read again to explain a refusal; UpdateSuggestion reads, checks the edit, then
writes guarded by the version it read.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import grpc
from google.protobuf import duration_pb2, timestamp_pb2

from job_service import (
    access,
    audit,
    auditchain,
    authz,
    checks,
    database,
    filters,
    mappers,
    monitors,
    notifications,
    optimizer,
    pagination,
)
from job_service.handlers import HandlerBase, _caller
from job_service.job_handlers import JobHandlers
from job_service.principals import Role
from job_service.suggestion_handlers import SuggestionHandlers
from job_service.target_handlers import TargetHandlers
from job_service.verification_handlers import VerificationHandlers
from pgsage.jobs.v1 import (
    access_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
)

log = logging.getLogger(__name__)


class JobServicer(
    JobHandlers,
    SuggestionHandlers,
    access.AccessHandlers,
    VerificationHandlers,
    TargetHandlers,
    HandlerBase,
    job_service_pb2_grpc.JobServiceServicer,
):
    """Every handler asks `authz` first: no role at all is PERMISSION_DENIED before any
    lookup; a resource on a target the caller may not view is NOT_FOUND, as if unknown.
    The jobs RPCs are `job_handlers`, the suggestion RPCs `suggestion_handlers`, the token
    RPCs `access`; the audit trail and the dependencies are here."""

    def __init__(
        self,
        *,
        db: database.Database,
        listener: notifications.Listener,
        optimizer_client: optimizer.OptimizerClient,
        job_ttl: timedelta,
        max_attempts: int,
        policy: authz.Policy | None = None,
    ) -> None:
        self._db = db
        self._policy = policy or authz.Policy()
        self._listener = listener
        self._optimizer = optimizer_client
        # Set once the server (whose health it drives) is built.
        self.database_monitor: monitors.DatabaseMonitor | None = None
        self._ttl = job_ttl
        self._max_attempts = max_attempts

    # The audit trail

    async def ListAuditRecords(
        self, request: job_service_pb2.ListAuditRecordsRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.ListAuditRecordsResponse:
        caller = _caller(context)
        flt = filters.parse(request.filter, audit.FILTER_FIELDS)
        size = pagination.page_size(request.page_size)
        position = pagination.decode(request.page_token, flt.digest)
        async with self._db.connection() as conn:
            page = await audit.list_page(conn, flt, position, size, authz.audit_patterns(caller))
        return job_service_pb2.ListAuditRecordsResponse(
            audit_records=[mappers.audit_to_proto(e) for e in page.items],
            next_page_token=(
                pagination.encode(page.next_position, flt.digest) if page.next_position else ""
            ),
        )

    async def VerifyAuditTrail(
        self, request: access_pb2.VerifyAuditTrailRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.VerifyAuditTrailResponse:
        """Recomputes the audit trail's hash chain (admin); names the first broken record."""
        authz.require(
            authz.principal_of(context), Role.ADMIN, None, permission="auditRecords.verify"
        )
        result = await auditchain.verify(self._db)
        log.info(
            "audit trail verified: intact=%s checked=%d %s %s",
            result.intact,
            result.records_checked,
            result.problem,
            result.first_bad_record,
        )
        return access_pb2.VerifyAuditTrailResponse(
            intact=result.intact,
            records_checked=result.records_checked,
            first_bad_record=result.first_bad_record,
            problem=result.problem,
            message=result.message,
        )

    # Dependencies

    async def ListTargets(
        self, request: job_service_pb2.ListTargetsRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.ListTargetsResponse:
        caller = _caller(context)
        targets = await self._optimizer.list_targets()
        return job_service_pb2.ListTargetsResponse(
            targets=[t for t in targets if caller.role_on(t.name) is not None]
        )

    async def GetDiagnostics(
        self, request: job_service_pb2.GetDiagnosticsRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.GetDiagnosticsResponse:
        _caller(context)
        assert self.database_monitor is not None
        checks = {
            "database": await self.database_monitor.check_once(),
            "optimizer": await self._optimizer.check(),
        }
        return job_service_pb2.GetDiagnosticsResponse(
            dependencies=[_dependency(name, check) for name, check in checks.items()]
        )


def _dependency(name: str, check: checks.Check) -> job_service_pb2.Dependency:
    when = timestamp_pb2.Timestamp()
    when.FromDatetime(check.time)
    latency = duration_pb2.Duration()
    latency.FromTimedelta(timedelta(seconds=check.latency))
    return job_service_pb2.Dependency(
        name=name,
        status=job_service_pb2.Dependency.OK if check.ok else job_service_pb2.Dependency.DOWN,
        message=check.message,
        check_time=when,
        latency=latency,
    )
