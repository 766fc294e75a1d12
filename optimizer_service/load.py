"""The polite pause: builds and benchmarks wait while a target is busy.

A target may set `max_target_load` (optional): the most active sessions (other than
pgsage's own) and the most replication lag (seconds, of any standby, as the primary sees it
in `pg_stat_replication`) it accepts before pgsage starts an index build or a benchmark's
measurements. While either is over its limit the work waits, saying why in its progress
("paused: 42 active sessions on shop, over max_target_load.active_sessions = 30"), and
re-checks every `check_seconds`; a cancel ends the wait at once. A build already running is
never paused (PostgreSQL cannot pause one): the check comes before it starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from optimizer_service.settings import TargetConfig, TargetLoad

log = logging.getLogger(__name__)

_LOAD = """
SELECT (SELECT count(*) FROM pg_stat_activity
        WHERE state = 'active' AND backend_type = 'client backend'
          AND pid <> pg_backend_pid()
          AND application_name NOT LIKE 'pgsage-optimizer%') AS active,
       (SELECT COALESCE(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication)
           AS lag"""


def over(limits: TargetLoad, active: int, lag: float, target: str) -> str:
    """Why the target is too busy now ('' when it is not)."""
    if limits.active_sessions is not None and active > limits.active_sessions:
        return (
            f"{active} active sessions on {target}, over "
            f"max_target_load.active_sessions = {limits.active_sessions}"
        )
    if limits.replication_lag_seconds is not None and lag > limits.replication_lag_seconds:
        return (
            f"replication lag {lag:.1f} s on {target}, over "
            f"max_target_load.replication_lag_seconds = {limits.replication_lag_seconds:g}"
        )
    return ""


async def wait_until_calm(
    conn: asyncpg.Connection, target: TargetConfig, tell: Callable[[str], object]
) -> None:
    """Returns once `target` is within its `max_target_load` (at once without one)."""
    limits = target.max_target_load
    if limits is None:
        return
    said = ""
    while True:
        row = await conn.fetchrow(_LOAD)
        why = over(limits, int(row["active"]), float(row["lag"]), target.name)
        if not why:
            if said:
                log.info("target %s is calm again; going on", target.name)
            return
        if why != said:
            log.info("paused: %s", why)
        said = why
        tell(f"paused: {why}")
        await asyncio.sleep(limits.check_seconds)
