"""Deleting expired jobs (finished jobs whose `expire_time`, end + TTL, has passed) and
workload snapshots older than their retention.

A background sweep deletes them with their suggestions and events (foreign keys cascade)
in bounded batches (`FOR UPDATE SKIP LOCKED`, so replicas sweeping together never wait on
each other), skipping any job that owns a suggestion live on a target (APPLYING, APPLIED,
ROLLING_BACK, ROLLBACK_FAILED): the way back from that change must outlive any TTL.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

from job_service import database, jobs, snapshots
from pgsage import periodic

log = logging.getLogger(__name__)


async def sweep(
    db: database.Database, batch: int, snapshot_retention: timedelta | None = None
) -> int:
    """Deletes every expired job, `batch` per transaction, then the snapshots older than
    `snapshot_retention`; returns how many jobs."""
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
    if snapshot_retention is not None:
        while True:
            async with db.transaction() as conn:
                gone = await snapshots.delete_expired(conn, snapshot_retention, batch)
            if gone < batch:
                break
    return total


def sweeping(
    db: database.Database,
    *,
    interval: float,
    batch: int,
    snapshot_retention: timedelta | None = None,
) -> contextlib.AbstractAsyncContextManager[object]:
    """Runs `sweep` every `interval` seconds while the block runs."""
    return periodic.every(
        interval, lambda: sweep(db, batch, snapshot_retention), name="expiry sweep"
    )
