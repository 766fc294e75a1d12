"""Periodic workload snapshots: every target under watch, one snapshot per tick.

Every `snapshot_interval` (PGSAGE_JOBS_SNAPSHOT_INTERVAL) the job service reads each
reachable target's pg_stat_statements totals through the optimizer's Snapshot (the same
read a verification makes, without statements) and stores it as a PERIODIC snapshot; the
target page charts them. They hold no statement's figures, so a verification's "before" side
never starts from one.

Ticks are the multiples of the interval on the job store's clock, so every replica agrees
on them. Every replica polls (a few times per interval); the first to reach a target's tick
inserts its `snapshot_tick` row and, in the same transaction, stores the snapshot. A second
replica's insert of that row waits for the first transaction and then finds the row there
(`ON CONFLICT DO NOTHING`): the store decides, never a process. A replica that dies half
way leaves nothing (its transaction dies with it) and another takes the tick on its next
poll. A failed read (the target or the optimizer is down) rolls back too, and this replica
does not try that target again before the next tick. The optimizer is asked for the list of
targets (and whether each is reachable) once per tick, not at every poll.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import grpc

from job_service import database, optimizer, snapshots
from job_service.vocabulary import SnapshotReason
from pgsage import errors, periodic
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt

log = logging.getLogger(__name__)

_TICK = "SELECT to_timestamp(floor(extract(epoch FROM now()) / $1) * $1)"
_TAKEN = "SELECT 1 FROM snapshot_tick WHERE target = $1 AND tick = $2"
_CLAIM = """
INSERT INTO snapshot_tick (target, tick, taker) VALUES ($1, $2, $3)
ON CONFLICT (target, tick) DO NOTHING
RETURNING tick"""
_LINK = "UPDATE snapshot_tick SET snapshot_id = $3 WHERE target = $1 AND tick = $2"


def poll_interval(interval: timedelta) -> float:
    """How often a replica looks for an untaken tick: a few times per interval, at least
    every 30 s and at most 5 times a second."""
    return min(max(interval.total_seconds() / 4, 0.2), 30.0)


class SnapshotWatch:
    """Takes the periodic snapshots of every target (see the module docstring)."""

    def __init__(
        self,
        db: database.Database,
        client: optimizer.OptimizerClient,
        *,
        interval: timedelta,
        owner: str,
        timeout: float = 30.0,
    ) -> None:
        self._db = db
        self._client = client
        self.interval = interval
        self._owner = owner
        self._timeout = timeout
        # The current tick, the targets the optimizer listed for it (asked once per tick),
        # and those done with for it: taken (here or elsewhere) or failed here.
        self._tick: datetime | None = None
        self._targets: list[str] = []
        self._done: set[str] = set()
        self.taken = 0  # snapshots this process stored

    async def tick(self) -> int:
        """One round: takes each reachable target's snapshot of the current tick that no
        replica has taken yet; returns how many this call stored."""
        if self._client.address is None:
            return 0
        async with self._db.connection() as conn:
            tick: datetime = await conn.fetchval(_TICK, self.interval.total_seconds())
        if tick != self._tick:
            listed = await self._client.list_targets()
            self._tick, self._done = tick, set()
            self._targets = [t.name for t in listed if t.reachable]
        stored = 0
        for target in self._targets:
            if target in self._done:
                continue
            if await self._take(target, tick):
                stored += 1
        self.taken += stored
        return stored

    async def _take(self, target: str, tick: datetime) -> bool:
        async with self._db.connection() as conn:
            if await conn.fetchval(_TAKEN, target, tick):
                self._done.add(target)
                return False
        try:
            async with self._db.transaction() as conn:
                if await conn.fetchval(_CLAIM, target, tick, self._owner) is None:
                    self._done.add(target)
                    return False  # another replica took it meanwhile
                taken = await self._read(target)
                if taken is None:
                    raise _ReadFailed()
                s = snapshots.from_optimizer(taken, SnapshotReason.PERIODIC)
                await snapshots.add(conn, s)
                await conn.execute(_LINK, target, tick, s.id)
        except _ReadFailed:
            self._done.add(target)
            return False
        self._done.add(target)
        log.debug("periodic snapshot of %s for the tick of %s", target, tick.isoformat())
        return True

    async def _read(self, target: str) -> opt.WorkloadSnapshot | None:
        try:
            call = self._client.stub().Snapshot(
                opt.SnapshotRequest(target=target), timeout=self._timeout
            )
            async for event in call:
                if event.WhichOneof("event") == "snapshot":
                    return event.snapshot
        except (TimeoutError, grpc.aio.AioRpcError) as exc:
            detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else "timed out"
            log.warning("no periodic snapshot of %s this tick: %s", target, detail)
        return None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Takes the snapshots while the block runs (nothing when the interval is zero)."""
        if self.interval <= timedelta(0):
            yield
            return
        async with periodic.every(
            poll_interval(self.interval), self.tick, name="periodic workload snapshots"
        ):
            yield


class _ReadFailed(errors.Unavailable):
    """The optimizer gave no snapshot: the claim is rolled back (a PgsageError, so the
    store's transaction passes it through untranslated)."""

    def __init__(self) -> None:
        super().__init__("no snapshot")
