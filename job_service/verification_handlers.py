"""The verification RPCs of `pgsage.jobs.v1.JobService`: verify a suggestion now, and list
the workload snapshots verifications took.

A mixin of `servicer.JobServicer`. `VerifySuggestion` is CreateJob with kind VERIFY (the
same checks: operator on the target, an APPLIED suggestion; the same idempotency by
`request_id`).
"""

from __future__ import annotations

import grpc

from job_service import authz, filters, mappers, names, pagination, snapshots
from job_service.handlers import HandlerBase, _caller
from pgsage.jobs.v1 import job_pb2, job_service_pb2


class VerificationHandlers(HandlerBase):
    async def VerifySuggestion(
        self, request: job_service_pb2.VerifySuggestionRequest, context: grpc.aio.ServicerContext
    ) -> job_pb2.Job:
        # The target comes from the suggestion (CreateJob checks the rest).
        caller = _caller(context)
        async with self._db.connection() as conn:
            found = await self._suggestion(
                conn, caller, *names.parse_suggestion(request.name, field="name")
            )
        create = job_service_pb2.CreateJobRequest(
            job=job_pb2.Job(kind=job_pb2.Job.VERIFY, target=found.target, suggestion=request.name),
            request_id=request.request_id,
        )
        return await self.CreateJob(create, context)  # type: ignore[attr-defined, no-any-return]

    async def ListWorkloadSnapshots(
        self,
        request: job_service_pb2.ListWorkloadSnapshotsRequest,
        context: grpc.aio.ServicerContext,
    ) -> job_service_pb2.ListWorkloadSnapshotsResponse:
        caller = _caller(context)
        flt = filters.parse(request.filter, snapshots.FILTER_FIELDS)
        size = pagination.page_size(request.page_size)
        position = pagination.decode(request.page_token, flt.digest)
        async with self._db.connection() as conn:
            items, after = await snapshots.list_page(
                conn,
                flt,
                position,
                size,
                authz.visible_patterns(caller),
                with_statements=not request.totals_only,
            )
        return job_service_pb2.ListWorkloadSnapshotsResponse(
            workload_snapshots=[mappers.snapshot_to_proto(s) for s in items],
            next_page_token=pagination.encode(after, flt.digest) if after else "",
        )
