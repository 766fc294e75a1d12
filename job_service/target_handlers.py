"""GetTargetSummary of `pgsage.jobs.v1.JobService`: one target at a glance (a mixin of
`servicer.JobServicer`; the reading and the headline are `target_summary`).

A target is known when the optimizer lists it or the store holds a job or a snapshot of
it; a target the caller may not view answers NOT_FOUND exactly as an unknown one.
"""

from __future__ import annotations

from datetime import timedelta

import grpc

from job_service import authz, errors, target_summary
from job_service.handlers import HandlerBase, _caller
from pgsage import errors as pgsage_errors
from pgsage.jobs.v1 import job_service_pb2


class TargetHandlers(HandlerBase):
    snapshot_interval: timedelta = timedelta(0)
    snapshot_retention: timedelta = timedelta(days=90)

    async def GetTargetSummary(
        self,
        request: job_service_pb2.GetTargetSummaryRequest,
        context: grpc.aio.ServicerContext,
    ) -> job_service_pb2.TargetSummary:
        caller = _caller(context)
        target = target_summary.parse_name(request.name)
        hidden = errors.TargetNotFound(request.name)
        authz.visible(caller, target, hidden)
        period = target_summary.DEFAULT_PERIOD
        if request.HasField("workload_period"):
            period = request.workload_period.ToTimedelta()
            if period <= timedelta(0):
                raise pgsage_errors.InvalidArgument(
                    "workload_period", "workload_period must be positive"
                )
        period = min(period, self.snapshot_retention)
        info = None
        try:
            info = next((t for t in await self._optimizer.list_targets() if t.name == target), None)
        except pgsage_errors.PgsageError:
            info = None  # the optimizer is down: the store still knows the target
        async with self._db.connection() as conn:
            if info is None and not await target_summary.known(conn, target):
                raise hidden
            summary = await target_summary.read(conn, target, period)
        if info is not None:
            summary.info.CopyFrom(info)
        summary.snapshot_interval.FromTimedelta(self.snapshot_interval)
        return summary
