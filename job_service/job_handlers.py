"""The job RPCs of `pgsage.jobs.v1.JobService`: create, get, list, count, cancel, retry,
delete and watch a job.

A mixin of `servicer.JobServicer`. CreateJob of a change job checks its preconditions (the
suggestion's own state in `domain.check_can_start`, the rows in its way in
`changes.check_no_conflict`) and audits the creation, in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import AbstractAsyncContextManager

import grpc
from google.protobuf import empty_pb2

from job_service import (
    audit,
    authz,
    changes,
    database,
    domain,
    errors,
    filters,
    jobs,
    mappers,
    names,
    pagination,
    suggestions,
)
from job_service.handlers import HandlerBase, _caller, _entry
from job_service.principals import Principal, Role
from pgsage import errors as pgsage_errors
from pgsage.jobs.v1 import (
    job_pb2,
    job_service_pb2,
)

log = logging.getLogger(__name__)

# A watcher re-reads at least this often even without a notification (belt and braces).
WATCH_POLL_SECONDS = 10.0


class JobHandlers(HandlerBase):
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
