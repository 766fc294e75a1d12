"""Watching a running CREATE/DROP INDEX CONCURRENTLY: its progress, streamed every half second.

A build of a large table takes minutes to hours; whoever waits for it (the job, the UI's
progress bar, `pgsage jobs watch`) sees what PostgreSQL reports in
`pg_stat_progress_create_index` for the building session: the phase, blocks and tuples done
of their totals, and the transactions it waited for (a build waits for every transaction that
could use the table, before it builds and again before it validates). The percentage moves
through the phases of a concurrent build in order (the table scan is most of the work).

The watch reads on a session of its own, taken only if the target's session budget has a place
free now (`place="taken"`): it never makes other work wait. Without one, and for a DROP
(PostgreSQL reports no progress for it), the progress says how long the statement has run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator

import asyncpg

from optimizer_service import ddl, targets
from optimizer_service.settings import TargetConfig
from pgsage.optimizer.v1 import analysis_pb2

log = logging.getLogger(__name__)

EVERY_SECONDS = 0.5

# The phases of CREATE INDEX CONCURRENTLY in order, each with its share of the percentage
# (where it starts, how much of it it spans).
_PHASES: dict[str, tuple[float, float]] = {
    "initializing": (0, 1),
    "waiting for writers before build": (1, 4),
    "building index: scanning table": (5, 55),
    "building index: sorting live tuples": (60, 8),
    "building index: loading tuples in tree": (68, 10),
    "waiting for writers before validation": (78, 2),
    "index validation: scanning index": (80, 5),
    "index validation: sorting tuples": (85, 3),
    "index validation: scanning table": (88, 9),
    "waiting for old snapshots": (97, 1),
    "waiting for readers before marking dead": (98, 1),
    "waiting for readers before dropping": (98, 1),
}

_PROGRESS = """
SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total, lockers_done,
       lockers_total
FROM pg_stat_progress_create_index WHERE pid = $1"""


def describe(row: asyncpg.Record | dict) -> tuple[float, str]:
    """(percent, message) of one row of `pg_stat_progress_create_index`."""
    phase = row["phase"]
    start, span = _PHASES.get(phase, (0, 0))
    done, total = row["blocks_done"], row["blocks_total"]
    if not total:
        done, total = row["tuples_done"], row["tuples_total"]
    fraction = min(done / total, 1.0) if total else 0.0
    parts = [phase]
    if row["blocks_total"]:
        parts.append(f"{row['blocks_done']:,} of {row['blocks_total']:,} blocks")
    if row["tuples_total"]:
        parts.append(f"{row['tuples_done']:,} of {row['tuples_total']:,} tuples")
    if row["lockers_total"]:
        parts.append(f"waited for {row['lockers_done']:,} of {row['lockers_total']:,} transactions")
    return round(start + span * fraction, 1), ", ".join(parts)


def progress(percent: float, message: str) -> analysis_pb2.Progress:
    return analysis_pb2.Progress(stage="build", percent=percent, message=message)


async def _watch(
    target: TargetConfig,
    pid: int,
    what: str,
    emit: ddl.Emit,
    connect_timeout: float,
    prefix: str = "",
) -> None:
    started = time.monotonic()
    conn: asyncpg.Connection | None = None
    if "DROP" not in what and await target.sessions.try_take():
        # Connecting is not interrupted halfway (a cancelled asyncpg connect leaves a future
        # failing unread): a watch cancelled meanwhile closes the session once it is open.
        opening = asyncio.ensure_future(
            targets.connect(target, connect_timeout=connect_timeout, place="taken")
        )
        try:
            conn = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_when_open)
            raise
        except Exception as exc:  # the build goes on; only its progress is not read
            log.info("build progress on %s not read: %s", target.name, type(exc).__name__)
    reading: asyncio.Future[asyncpg.Record | None] | None = None
    try:
        percent = 0.0
        while True:
            row = None
            if conn is not None:
                # A read is never cut off mid-statement either (see above).
                reading = asyncio.ensure_future(
                    conn.fetchrow(_PROGRESS, pid, timeout=connect_timeout)
                )
                with contextlib.suppress(asyncpg.PostgresError):
                    row = await asyncio.shield(reading)
            elapsed = f"{time.monotonic() - started:.0f} s"
            lead = f"{prefix}: " if prefix else ""
            if row is not None:
                percent, message = describe(row)
                emit(progress(percent, f"{lead}{message} ({elapsed})"))
            else:
                emit(progress(percent, f"{lead}{what} running for {elapsed}"))
            await asyncio.sleep(EVERY_SECONDS)
    finally:
        if conn is not None:
            if reading is not None and not reading.done():
                reading.add_done_callback(functools.partial(_terminate_after, conn))
            else:
                conn.terminate()  # a read-only watcher: nothing to close politely


def _terminate_after(conn: asyncpg.Connection, read: asyncio.Future[object]) -> None:
    if not read.cancelled():
        read.exception()  # read, so it is not reported as never retrieved
    conn.terminate()


def _close_when_open(opening: asyncio.Future[asyncpg.Connection]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().terminate()


@contextlib.asynccontextmanager
async def watching(
    target: TargetConfig,
    pid: int,
    what: str,
    emit: ddl.Emit,
    connect_timeout: float,
    prefix: str = "",
) -> AsyncIterator[None]:
    """Streams the progress of session `pid`'s `what` while the block runs (each message
    after `prefix`, e.g. the partition being built)."""
    task = asyncio.create_task(_watch(target, pid, what, emit, connect_timeout, prefix))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            log.info("build progress watch ended: %r", task.exception())
