"""Helpers of the schedules' tests and benchmark: an optimizer that knows a few targets (the
real OptimizerService interface with canned ListTargets answers), so a ScheduleService can
check targets without a target database, and reads of the jobs a schedule created."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from job_service import optimizer
from pgsage import server
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as opt_grpc

TARGETS = ("demo", "prod", "staging-1")


class KnownTargets(opt_grpc.OptimizerServiceServicer):
    """Answers ListTargets with `names`; any other call is UNIMPLEMENTED (jobs are not run)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)

    async def ListTargets(self, request, context):
        return opt.ListTargetsResponse(targets=[opt.Target(name=n) for n in self.names])


@asynccontextmanager
async def known_targets(names: Sequence[str] = TARGETS) -> AsyncIterator[str]:
    """An in-process optimizer knowing `names`; yields its address."""
    fake = server.build_server(
        host="127.0.0.1",
        port=0,
        service_names=[optimizer.SERVICE_NAME],
        registrars=[
            lambda s: opt_grpc.add_OptimizerServiceServicer_to_server(KnownTargets(names), s)
        ],
    )
    await fake.start()
    try:
        yield f"127.0.0.1:{fake.port}"
    finally:
        await fake.stop(0)


async def ticks_of(conn: asyncpg.Connection, schedule_name: str) -> list[tuple]:
    """(schedule_time, job count) of every tick the schedule created jobs for, in order."""
    schedule_id = uuid.UUID(schedule_name.split("/")[1])
    rows = await conn.fetch(
        "SELECT schedule_time, count(*) AS n FROM job WHERE schedule_id = $1 "
        "GROUP BY schedule_time ORDER BY schedule_time",
        schedule_id,
    )
    return [(r["schedule_time"], r["n"]) for r in rows]
