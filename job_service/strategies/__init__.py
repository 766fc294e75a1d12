"""What a run does for each kind of job: an analysis (`analysis`) or a change (`change`).

This module is their contract with `job_service.driver`: each strategy is handed a
`RunContext` (the job, the lease it runs under, the guarded write, the optimizer, the
limits), and nothing else of the dispatcher; the driver owns the lease, the call's
cancellation and the ending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar

import grpc

from job_service import database, domain, ending, optimizer

T = TypeVar("T")
Write = Callable[[str, Callable[[database.Connection], Awaitable[Any]]], Awaitable[Any]]


class LeaseLost(Exception):
    """This process no longer owns the job (it was taken over, or it finished elsewhere)."""


@dataclass
class RunContext:
    """What a strategy may use of its run: the job, the lease it runs under, the guarded
    write, the optimizer and the limits. Nothing else of the dispatcher is reachable."""

    job: domain.Job
    owner: str
    lease: timedelta
    write: Write  # one statement, waiting out a job store outage
    optimizer: optimizer.OptimizerClient
    timeout: float  # of one optimizer call, seconds
    job_ttl: timedelta
    spawn: Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]] = field(repr=False)
    saw_own: Callable[[domain.Job], Awaitable[None]] = field(repr=False)
    received: int = 0  # events of the stream so far
    # Clear while a streamed event is being stored (its revision is not known yet).
    idle: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def guarded(
        self, what: str, action: Callable[[database.Connection], Awaitable[T | None]]
    ) -> T:
        """A write guarded by the lease: None (0 rows) ends the run as lease lost."""
        result = await self.write(f"job {self.job.id} {what}", action)
        if result is None:
            raise LeaseLost()
        return result  # type: ignore[no-any-return]

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return optimizer.job_metadata(self.job.id)


class Strategy(Protocol):
    """The part of a run that depends on the job's kind."""

    outcome: str  # what the stream delivers, for messages ("summary", "result")

    async def load(self) -> ending.Outcome | None:
        """Before the optimizer is asked: an outcome when the job cannot run at all."""

    async def begin(self) -> ending.Outcome | None:
        """Once the optimizer is reachable, before the call: an outcome to end with now."""

    def open(self) -> grpc.aio.UnaryStreamCall:
        """Opens the optimizer call."""

    async def consume(self, call: grpc.aio.UnaryStreamCall) -> bool:
        """Stores the stream's events; True once its outcome arrived. Raises the call's
        AioRpcError, or CancelledError when the call (not the task) was cancelled."""

    async def finish(self) -> ending.Outcome | None:
        """Stores the outcome that arrived (FINISH): None when that finished the job, else
        how the job ends (SUCCEEDED, or FAILED saying why)."""

    async def unsuccessful(self, state: str, why: str) -> None:
        """The job ended (or will end) `state` without its outcome."""

    def partial_summary(self) -> bytes:
        """The summary a CANCELLED job keeps (what was streamed before the cancel)."""
