"""Stopping a child task without swallowing a cancel aimed at the caller."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


async def stop(task: asyncio.Task | asyncio.Future) -> None:
    """Cancels `task` and waits until it is done.

    The task's own ending (its cancellation, or an error it raised on the way out) is
    collected and logged, not raised; a cancel of the *caller* while it waits still
    propagates, which `suppress(CancelledError)` around `await task` would swallow.
    """
    task.cancel()
    await asyncio.wait([task])
    collect(task)


def collect(task: asyncio.Task | asyncio.Future) -> None:
    """Reads how a finished `task` ended, so an error nobody awaited is logged here (at
    debug) rather than as "exception was never retrieved" when it is collected."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.debug("stopped task ended with %r", exc)
