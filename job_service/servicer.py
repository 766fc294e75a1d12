"""`pgsage.jobs.v1.JobService`: validates each request, runs it in one transaction, maps it.

Handlers raise `job_service.errors`; `pgsage.rpc.ErrorInterceptor` turns them into rich
statuses. Single-statement RPCs (create, get, list, cancel, retry, delete, approve,
dismiss) run one guarded statement in autocommit — a statement is its own transaction —
and only read again to explain a refusal; UpdateSuggestion reads, checks the edit, then
writes guarded by the version it read.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf import duration_pb2, empty_pb2, timestamp_pb2

from job_service import (
    access,
    audit,
    auditchain,
    authz,
    changes,
    checks,
    database,
    domain,
    errors,
    filters,
    jobs,
    mappers,
    monitors,
    names,
    notifications,
    optimizer,
    pagination,
    suggestions,
)
from job_service.principals import Principal, Role
from pgsage import errors as pgsage_errors
from pgsage import sqlcheck
from pgsage.jobs.v1 import (
    access_pb2,
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    suggestion_pb2,
)

log = logging.getLogger(__name__)

# A watcher re-reads at least this often even without a notification (belt and braces).
WATCH_POLL_SECONDS = 10.0
MAX_NOTES = 10_000
MAX_SQL = 20_000


class JobServicer(access.AccessHandlers, job_service_pb2_grpc.JobServiceServicer):
    """Every handler asks `authz` first: no role at all is PERMISSION_DENIED before any
    lookup; a resource on a target the caller may not view is NOT_FOUND, as if unknown."""

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

    # Jobs

    async def CreateJob(
        self, request: job_service_pb2.CreateJobRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.Job:
        caller = _caller(context)
        new, suggestion_ids = mappers.new_job(request, self._max_attempts, caller.display_name)
        permission = f"jobs.create.{new.kind.lower()}"
        authz.require(caller, Role.OPERATOR, new.target, permission=permission)
        # A job on a suggestion is checked and audited with its creation, atomically; a
        # plain analysis is one statement (the hot path).
        scope = self._db.connection() if suggestion_ids is None else self._db.transaction()
        try:
            job, created = await self._create_job(scope, request, new, suggestion_ids, caller)
        except errors.ChangeInProgress as exc:
            # The same request raced itself: the job it made is the answer (idempotency
            # comes before the one-change-at-a-time rule).
            if not (new.request_id and exc.request_id == new.request_id):
                raise
            async with self._db.connection() as conn:
                raced = await jobs.by_request_id(conn, new.request_id)
            if raced is None:  # it ended and expired in between: nothing to return
                raise
            job, created = raced, False
        if created:
            log.info("created job %s (%s on %s)", job.id, job.kind, job.target)
        return mappers.job_to_proto(job)

    async def _create_job(
        self,
        scope: AbstractAsyncContextManager[database.Connection],
        request: job_service_pb2.CreateJobRequest,
        new: domain.NewJob,
        suggestion_ids: tuple[uuid.UUID, uuid.UUID] | None,
        caller: Principal,
    ) -> tuple[domain.Job, bool]:
        async with scope as conn:
            if suggestion_ids is not None and new.request_id:
                # A retried request gets its job back, whatever happened to the suggestion
                # meanwhile (the same request: same kind, target and suggestion).
                existing = await jobs.by_request_id(conn, new.request_id)
                if existing is not None and (
                    existing.kind,
                    existing.target,
                    existing.suggestion_id,
                ) == (new.kind, new.target, new.suggestion_id):
                    return existing, False
            if suggestion_ids is not None:
                acted_on = await self._suggestion(conn, caller, *suggestion_ids)
                if acted_on.target != new.target:
                    raise errors.InvalidField(
                        "job.target",
                        f"{request.job.suggestion} is on target {acted_on.target!r}, "
                        f"not {new.target!r}",
                    )
                domain.check_can_start(new.kind, acted_on)
                await changes.check_no_conflict(conn, new.kind, acted_on)
                self._check_two_person(caller, new.kind, acted_on)
            job, created = await jobs.create(conn, new)
            if created and suggestion_ids is not None:
                await audit.record(
                    conn,
                    _entry(
                        caller,
                        action=f"job.create.{new.kind.lower()}",
                        resource=request.job.suggestion,
                        job_id=job.id,
                        target=job.target,
                        outcome="OK",
                        detail=f"{new.kind} job {names.job_name(job.id)} created",
                    ),
                )
        return job, created

    async def GetJob(
        self, request: job_service_pb2.GetJobRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.Job:
        caller = _caller(context)
        job_id = names.parse_job(request.name)
        async with self._db.connection() as conn:
            job = await self._job(conn, caller, job_id)
        return mappers.job_to_proto(job)

    async def ListJobs(
        self, request: job_service_pb2.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.ListJobsResponse:
        caller = _caller(context)
        flt = filters.parse(request.filter, jobs.FILTER_FIELDS)
        size = pagination.page_size(request.page_size)
        position = pagination.decode(request.page_token, flt.digest)
        async with self._db.connection() as conn:
            page = await jobs.list_page(conn, flt, position, size, authz.visible_patterns(caller))
        return job_service_pb2.ListJobsResponse(
            jobs=[mappers.job_to_proto(j) for j in page.items],
            next_page_token=(
                pagination.encode(page.next_position, flt.digest) if page.next_position else ""
            ),
        )

    async def CountJobs(
        self, request: job_service_pb2.CountJobsRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.CountJobsResponse:
        caller = _caller(context)
        if filters.parse(request.filter, jobs.FILTER_FIELDS).get("state"):
            raise errors.InvalidFilter("CountJobs counts every state; leave state out")
        flt = filters.parse(request.filter, jobs.COUNT_FILTER_FIELDS)
        async with self._db.connection() as conn:
            counts = await jobs.count_by_state(conn, flt, authz.visible_patterns(caller))
        return job_service_pb2.CountJobsResponse(
            counts=[
                job_service_pb2.CountJobsResponse.StateCount(
                    state=job_pb2.Job.State.Value(state), count=n
                )
                for state, n in counts.items()
            ],
            total=sum(counts.values()),
        )

    async def CancelJob(
        self, request: job_service_pb2.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.Job:
        caller = _caller(context)
        job_id = names.parse_job(request.name)
        async with self._db.connection() as conn:
            await self._job(conn, caller, job_id, Role.OPERATOR, "jobs.cancel")
            job = await jobs.cancel(conn, job_id, request.etag, self._ttl)
        log.info("cancel of job %s: now %s", job.id, job.state)
        return mappers.job_to_proto(job)

    async def RetryJob(
        self, request: job_service_pb2.RetryJobRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.Job:
        caller = _caller(context)
        job_id = names.parse_job(request.name)
        async with self._db.connection() as conn:
            await self._job(conn, caller, job_id, Role.OPERATOR, "jobs.retry")
            job = await jobs.retry(conn, job_id, request.etag, self._max_attempts)
        log.info("retry of job %s: PENDING again", job.id)
        return mappers.job_to_proto(job)

    async def DeleteJob(
        self, request: job_service_pb2.DeleteJobRequest, context: grpc.aio.ServicerContext
    ) -> empty_pb2.Empty:
        caller = _caller(context)
        job_id = names.parse_job(request.name)
        async with self._db.transaction() as conn:
            await self._job(conn, caller, job_id, Role.ADMIN, "jobs.delete")
            await jobs.delete(conn, job_id, request.etag)
        log.info("deleted job %s", job_id)
        return empty_pb2.Empty()

    async def WatchJob(
        self, request: job_service_pb2.WatchJobRequest, context: grpc.aio.ServicerContext
    ):
        caller = _caller(context)
        job_id = names.parse_job(request.name)
        since = request.since_revision
        if since < 0:
            raise pgsage_errors.InvalidArgument("since_revision", "since_revision is 0 or more")
        # Subscribe before reading, so no change falls between the read and the listening.
        async with self._listener.subscribe(job_id) as bell:
            async with self._db.connection() as conn:
                job = await self._job(conn, caller, job_id)
                if since > job.revision:
                    raise pgsage_errors.InvalidArgument(
                        "since_revision",
                        f"since_revision {since} is ahead of the job's revision {job.revision}",
                    )
            last, done = since, False
            if since == 0 or since == job.revision:
                yield mappers.current_to_proto(job)
                last, done = job.revision, job.finished
            while True:
                while not done:
                    batch = await self._events_after(job_id, last)
                    if not batch:
                        break
                    for response, finished in batch:
                        yield response
                        last, done = response.revision, finished
                        if done:
                            break
                if done:
                    return
                if self._listener.closing:
                    raise errors.ShuttingDown(request.name, last)
                await bell.wait(WATCH_POLL_SECONDS)
                if self._listener.closing:
                    raise errors.ShuttingDown(request.name, last)

    async def _events_after(
        self, job_id: uuid.UUID, revision: int
    ) -> list[tuple[job_service_pb2.WatchJobResponse, bool]]:
        async with self._db.connection() as conn:
            events = await jobs.events_after(conn, job_id, revision)
            ids = [e.suggestion_id for e in events if e.suggestion_id]
            found = await suggestions.get_many(conn, ids) if ids else {}
        return [
            (
                mappers.event_to_proto(e, found.get(e.suggestion_id) if e.suggestion_id else None),
                e.job.finished,
            )
            for e in events
        ]

    # Suggestions

    async def ListSuggestions(
        self, request: job_service_pb2.ListSuggestionsRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.ListSuggestionsResponse:
        caller = _caller(context)
        job_id = names.parse_parent(request.parent)
        flt = filters.parse(request.filter, suggestions.FILTER_FIELDS)
        size = pagination.page_size(request.page_size)
        digest = filters.Filter((*flt.terms, filters.Term("parent", "=", (request.parent,))))
        position = pagination.decode(request.page_token, digest.digest)
        async with self._db.connection() as conn:
            if job_id is not None:
                await self._job(conn, caller, job_id)
            page = await suggestions.list_page(
                conn, job_id, flt, position, size, authz.visible_patterns(caller)
            )
        return job_service_pb2.ListSuggestionsResponse(
            suggestions=[mappers.suggestion_to_proto(s) for s in page.items],
            next_page_token=(
                pagination.encode(page.next_position, digest.digest) if page.next_position else ""
            ),
        )

    async def GetSuggestion(
        self, request: job_service_pb2.GetSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> suggestion_pb2.Suggestion:
        caller = _caller(context)
        job_id, suggestion_id = names.parse_suggestion(request.name)
        async with self._db.connection() as conn:
            found = await self._suggestion(conn, caller, job_id, suggestion_id)
        return mappers.suggestion_to_proto(found)

    async def ApproveSuggestion(
        self, request: job_service_pb2.ApproveSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> suggestion_pb2.Suggestion:
        caller = _caller(context)
        job_id, suggestion_id = names.parse_suggestion(request.name)
        async with self._db.transaction() as conn:
            before = await self._suggestion(
                conn, caller, job_id, suggestion_id, Role.REVIEWER, "suggestions.approve"
            )
            found = await suggestions.decide(
                conn,
                job_id,
                suggestion_id,
                state="APPROVED",
                etag=request.etag,
                decider=(caller.subject, caller.display_name),
            )
            await self._audit_change(conn, caller, "suggestion.approve", before, found)
        log.info("suggestion %s of job %s: %s", suggestion_id, job_id, found.state)
        return mappers.suggestion_to_proto(found)

    async def DismissSuggestion(
        self, request: job_service_pb2.DismissSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> suggestion_pb2.Suggestion:
        caller = _caller(context)
        job_id, suggestion_id = names.parse_suggestion(request.name)
        if len(request.reason) > MAX_NOTES:
            raise errors.InvalidField("reason", f"reason is at most {MAX_NOTES} characters")
        async with self._db.transaction() as conn:
            before = await self._suggestion(
                conn, caller, job_id, suggestion_id, Role.REVIEWER, "suggestions.dismiss"
            )
            found = await suggestions.decide(
                conn,
                job_id,
                suggestion_id,
                state="DISMISSED",
                etag=request.etag,
                dismiss_reason=request.reason,
            )
            await self._audit_change(
                conn, caller, "suggestion.dismiss", before, found, detail=request.reason
            )
        log.info("suggestion %s of job %s: %s", suggestion_id, job_id, found.state)
        return mappers.suggestion_to_proto(found)

    async def UpdateSuggestion(
        self, request: job_service_pb2.UpdateSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> suggestion_pb2.Suggestion:
        caller = _caller(context)
        if not request.HasField("suggestion"):
            raise errors.MissingField("suggestion")
        given = request.suggestion
        job_id, suggestion_id = names.parse_suggestion(given.name, field="suggestion.name")
        paths = list(request.update_mask.paths) or ["notes", "edited_sql"]
        for path in paths:
            if path not in ("notes", "edited_sql"):
                raise errors.InvalidField(
                    "update_mask", f"only notes and edited_sql can be updated, not {path!r}"
                )
        if len(given.notes) > MAX_NOTES:
            raise errors.InvalidField("suggestion.notes", f"at most {MAX_NOTES} characters")
        if len(given.edited_sql) > MAX_SQL:
            raise errors.InvalidStatement(f"at most {MAX_SQL} characters")
        async with self._db.transaction() as conn:
            current = await self._suggestion(
                conn, caller, job_id, suggestion_id, Role.REVIEWER, "suggestions.update"
            )
            if given.etag and current.version != jobs.expected_version(given.etag):
                raise errors.EtagMismatch(given.name, given.etag, current.etag)
            notes = given.notes if "notes" in paths else current.notes
            edited_sql, edited_rollback = current.edited_sql, current.edited_rollback_sql
            if "edited_sql" in paths:
                edited_sql, edited_rollback = self._check_edit(current, given.edited_sql)
            if edited_sql != current.edited_sql and current.state not in ("PENDING", "APPROVED"):
                raise errors.InvalidStateTransition(
                    given.name,
                    current.state,
                    "edit the SQL of",
                    why="only PENDING or APPROVED suggestions can be edited",
                )
            if edited_sql != current.edited_sql and edited_sql is not None:
                # Checked against the target itself (tables, columns, the index to drop)
                # when an optimizer is configured; without one, the local checks above stand.
                await self._optimizer.validate_edit(current, edited_sql)
            updated = await suggestions.update(
                conn,
                current,
                notes=notes,
                edited_sql=edited_sql,
                edited_rollback_sql=edited_rollback,
            )
            if edited_sql != current.edited_sql:
                await self._audit_change(
                    conn,
                    caller,
                    "suggestion.edit",
                    current,
                    updated,
                    statement=edited_sql or "",
                    detail="edited SQL" if edited_sql else "edit cleared: the original SQL applies",
                )
            elif notes != current.notes:
                await self._audit_change(conn, caller, "suggestion.notes", current, updated)
        return mappers.suggestion_to_proto(updated)

    async def _audit_change(
        self,
        conn: database.Connection,
        caller: Principal,
        action: str,
        before: domain.Suggestion,
        after: domain.Suggestion,
        *,
        statement: str = "",
        detail: str = "",
    ) -> None:
        """Records a change of a suggestion in the audit trail (nothing when it did not
        change: deciding the same way twice is not a new decision)."""
        if after.version == before.version:
            return
        await audit.record(
            conn,
            _entry(
                caller,
                action=action,
                resource=names.suggestion_name(after.job_id, after.id),
                job_id=after.job_id,
                target=after.target,
                statement=statement,
                outcome="OK",
                detail=detail,
                from_state=before.state,
                to_state=after.state,
            ),
        )

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

    def _check_two_person(self, caller: Principal, kind: str, acted_on: domain.Suggestion) -> None:
        """On a two-person target, the APPLY is created by someone other than the approver."""
        if (
            kind == "APPLY"
            and acted_on.approver_subject == caller.subject
            and self._policy.two_person(acted_on.target)
        ):
            raise errors.TwoPersonRule(
                names.suggestion_name(acted_on.job_id, acted_on.id),
                acted_on.target,
                acted_on.approver_name or acted_on.approver_subject,
            )

    @staticmethod
    def _check_edit(current: domain.Suggestion, text: str) -> tuple[str | None, str | None]:
        """The edit to store (None, None clears it) and its rollback."""
        if not text.strip():
            return None, None
        edit = sqlcheck.check_edit(
            kind=current.kind,
            original_sql=current.sql,
            original_rollback_sql=current.rollback_sql,
            edited_sql=text,
        )
        if edit.sql == current.edited_sql:
            return current.edited_sql, current.edited_rollback_sql
        return edit.sql, edit.rollback_sql

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
