"""The most sessions this optimizer keeps open on one target, shared by all its work.

Every session the optimizer opens on a target (an analysis's, its HypoPG helpers', a
validation's, a benchmark's, an APPLY's or ROLLBACK's, a health probe's) first takes a
place in the target's `SessionBudget` (`max_sessions` of the target, default 4), and gives it
back when the session closes, however it closes (a termination listener of the session, so a
crash of the work cannot leak a place). Idle sessions kept for reuse hold places too: the
number of backends pgsage holds on a target never exceeds its `max_sessions`.

Work beyond it waits its turn, saying so ("waiting for a session on <target>"); before it
waits, idle sessions kept for reuse are closed to make room (`reclaim`), and while anything
waits, a session given back is closed rather than kept. Optional work (the
extra HypoPG sessions of an analysis) takes a place only if one is free (`try_take`), so two
analyses can never each hold one session while waiting for a second.

Cleanups after a cancel (terminating a build's backend, dropping an INVALID index) do not
wait behind other work: they take no place (`extra=True`), at most one at a time per
cancelled change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

log = logging.getLogger(__name__)

Waiting = Callable[[str], object]


class SessionBudget:
    def __init__(self, target: str, limit: int) -> None:
        self.target = target
        self.limit = limit
        self.open = 0
        self.waiting = 0  # work waiting for a place: a session given back is not kept idle
        self._free: asyncio.Semaphore | None = None
        self._reclaimers: list[Callable[[], bool]] = []

    def _semaphore(self) -> asyncio.Semaphore:
        if self._free is None:
            self._free = asyncio.Semaphore(self.limit)
        return self._free

    def on_reclaim(self, reclaim: Callable[[], bool]) -> None:
        """`reclaim()` closes one idle kept session (its place frees when it is closed) and
        says whether it found one; called when work would otherwise wait."""
        self._reclaimers.append(reclaim)

    async def try_take(self) -> bool:
        """A place if one is free now, else False (never waits)."""
        free = self._semaphore()
        if free.locked():
            return False
        await free.acquire()  # returns at once: a place is free and nothing runs between
        self.open += 1
        return True

    async def take(self, waiting: Waiting | None = None) -> None:
        """A place for one more session; waits (saying so) while all are taken."""
        free = self._semaphore()
        if free.locked():
            for reclaim in self._reclaimers:
                if reclaim():
                    break
        if free.locked():
            message = (
                f"waiting for a session on {self.target} "
                f"({self.open} of {self.limit} in use by this optimizer)"
            )
            log.info("%s", message)
            if waiting is not None:
                waiting(message)
        self.waiting += 1
        try:
            await free.acquire()
        finally:
            self.waiting -= 1
        self.open += 1

    def give(self) -> None:
        self.open -= 1
        self._semaphore().release()

    def hold(self, conn: asyncpg.Connection) -> None:
        """Gives the place back when `conn` closes (closed, terminated or lost)."""
        given = False

        def closed(_conn: object) -> None:
            nonlocal given
            if not given:
                given = True
                self.give()

        conn.add_termination_listener(closed)
