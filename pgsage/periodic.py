"""Running an action every few seconds for as long as a service runs.

    async with periodic.every(30, monitor.check_once, name="database health check"):
        ...  # the check runs every 30 s in the background; leaving the block stops it

One failed round never stops the loop: a `PgsageError` (a dependency that is down, say) is
logged as a warning in one line, anything else with its traceback, and the next round runs
on time. Leaving the block cancels the loop and waits for it; a cancel of the caller while
it waits still propagates (`pgsage.tasks.stop`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from pgsage import errors, tasks

log = logging.getLogger(__name__)


async def _loop(interval: float, action: Callable[[], Awaitable[object]], name: str) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await action()
        except errors.PgsageError as exc:
            log.warning("%s skipped: %s", name, exc.message)
        except Exception:
            log.exception("%s failed unexpectedly", name)


@contextlib.asynccontextmanager
async def every(
    interval: float, action: Callable[[], Awaitable[object]], *, name: str
) -> AsyncIterator[asyncio.Task[None]]:
    """Runs `action` every `interval` seconds (the first time one interval from now) until
    the block is left; yields the background task."""
    if interval <= 0:
        raise ValueError(f"{name}: the interval must be positive, not {interval}")
    task = asyncio.create_task(_loop(interval, action, name), name=name)
    try:
        yield task
    finally:
        await tasks.stop(task)
