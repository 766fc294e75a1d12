"""Deleting expired jobs: finished jobs whose `expire_time` (end + TTL) has passed.

A background sweep deletes them with their suggestions and events (foreign keys cascade)
in bounded batches (`FOR UPDATE SKIP LOCKED`, so replicas sweeping together never wait on
each other), skipping any job that owns a suggestion live on a target (APPLYING, APPLIED,
ROLLING_BACK, ROLLBACK_FAILED): the way back from that change must outlive any TTL.
"""

from __future__ import annotations

import asyncio
import logging

from job_service import database, jobs
from pgsage import errors as pgsage_errors
from pgsage import tasks

log = logging.getLogger(__name__)


async def sweep(db: database.Database, batch: int) -> int:
    """Deletes every expired job, `batch` per transaction; returns how many."""
    total = 0
    while True:
        async with db.transaction() as conn:
            deleted = await jobs.delete_expired(conn, batch)
        total += len(deleted)
        for job_id in deleted:
            log.debug("deleted expired job %s", job_id)
        if len(deleted) < batch:
            break
    if total:
        log.info("deleted %d expired jobs", total)
    return total


class Sweeper:
    """Runs `sweep` every `interval` seconds until stopped."""

    def __init__(self, db: database.Database, *, interval: float, batch: int) -> None:
        self._db = db
        self._interval = interval
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="expiry-sweeper")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await sweep(self._db, self._batch)
            except pgsage_errors.PgsageError as exc:
                log.warning("expiry sweep skipped: %s", exc.message)
            except Exception:
                log.exception("expiry sweep failed unexpectedly")

    async def stop(self) -> None:
        if self._task is not None:
            await tasks.stop(self._task)
