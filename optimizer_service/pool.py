"""Reusable analysis sessions: one pool per target, owned by the servicer, closed on stop.

Opening a target session costs far more than using one (TLS, a backend fork, catalog caches,
asyncpg's type introspection), so the sessions of an analysis that finished normally are
kept for the next one:

- `acquire(first)` takes the newest idle session (LIFO, so a surplus goes unused and ages
  out) and runs `first` on it, the statement the caller needed anyway, which doubles as the
  liveness probe. A session that died while idle (a server restart, a DBA's
  pg_terminate_backend, idle_session_timeout) fails that probe; it is terminated and the
  call falls back, once, to a fresh session, so a dead session never fails an analysis.
- `release(conn, reset_sql)` keeps the session only if it is open, outside a transaction,
  the pool has room (`max_idle`) and the reset batch (one round trip) succeeds; otherwise
  the session is closed. Cancelled or failed analyses never release: they terminate.
- An idle session is closed after `idle_seconds` (a timer per released session, cancelled
  on reuse), so an optimizer that goes quiet holds no target connections.
- Every session holds a place in the target's session budget (`optimizer_service.budget`),
  idle ones included; work waiting for a place first has the oldest idle session closed.

asyncpg's own pool (`asyncpg.create_pool`) does not fit here: its idle connections cannot be
closed one at a time to make room for other work under a budget they share with sessions
opened outside the pool (APPLY, benchmarks, validation), and a session's reset depends on
what the analysis found on the target (HypoPG's presence).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from optimizer_service import budget, errors, targets
from optimizer_service.settings import Settings, TargetConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a dead (or otherwise unusable) pooled session raises on its first statement.
_DEAD = errors.DRIVER_ERRORS


@dataclass
class _Idle:
    conn: asyncpg.Connection
    timer: asyncio.TimerHandle


class Pool:
    """The idle analysis sessions of one target."""

    def __init__(
        self,
        target: TargetConfig,
        *,
        connect_timeout: float,
        max_idle: int,
        idle_seconds: float,
        setup: str = "",
    ) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self.setup = setup
        self._idle: list[_Idle] = []
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False
        target.sessions.on_reclaim(self._reclaim_one)

    @property
    def idle(self) -> int:
        """How many sessions wait in the pool."""
        return len(self._idle)

    async def acquire(
        self,
        first: Callable[[asyncpg.Connection], Awaitable[T]],
        waiting: budget.Waiting | None = None,
    ) -> tuple[asyncpg.Connection, T]:
        """A live session of the target and what `first` returned on it; a new session
        waits for a place in the target's budget (telling `waiting`)."""
        return await self._acquire(first, "take", waiting)

    async def try_acquire(
        self, first: Callable[[asyncpg.Connection], Awaitable[T]]
    ) -> tuple[asyncpg.Connection, T] | None:
        """Like `acquire`, but None at once when no idle session and no place is free."""
        if not self._idle and not await self.target.sessions.try_take():
            return None
        return await self._acquire(first, "taken" if not self._idle else "take", None)

    def _reclaim_one(self) -> bool:
        """Closes the oldest idle session so waiting work gets its place (see `budget`)."""
        if not self._idle:
            return False
        entry = self._idle.pop(0)
        entry.timer.cancel()
        self._close_later(entry.conn)
        return True

    async def _acquire(
        self,
        first: Callable[[asyncpg.Connection], Awaitable[T]],
        place: targets.Place,
        waiting: budget.Waiting | None,
    ) -> tuple[asyncpg.Connection, T]:
        while self._idle:
            entry = self._idle.pop()
            entry.timer.cancel()
            if entry.conn.is_closed():  # asyncpg already saw it go
                continue
            try:
                return entry.conn, await first(entry.conn)
            except asyncio.CancelledError:
                entry.conn.terminate()
                raise
            except _DEAD as exc:
                entry.conn.terminate()
                log.info(
                    "target %s: a pooled session was unusable (%s); using a fresh one",
                    self.target.name,
                    type(exc).__name__,
                )
                break
        conn = await targets.connect(
            self.target,
            connect_timeout=self.connect_timeout,
            setup=self.setup,
            place=place,
            waiting=waiting,
        )
        try:
            return conn, await first(conn)
        except BaseException:
            conn.terminate()
            raise

    async def release(self, conn: asyncpg.Connection, reset_sql: str) -> None:
        """Keeps `conn` for the next analysis once reset, or closes it."""
        if not self._room() or conn.is_closed() or conn.is_in_transaction():
            await self._close(conn)
            return
        try:
            await conn.execute(reset_sql, timeout=self.connect_timeout)
        except asyncio.CancelledError:
            conn.terminate()
            raise
        except Exception as exc:  # an unusable session is simply not kept
            log.info("target %s: a session was not kept (%s)", self.target.name, type(exc).__name__)
            conn.terminate()
            return
        if not self._room():  # the pool filled or closed during the reset
            await self._close(conn)
            return
        loop = asyncio.get_running_loop()
        entry = _Idle(conn, loop.call_later(self.idle_seconds, lambda: self._expire(conn)))
        self._idle.append(entry)

    def _room(self) -> bool:
        # Work waiting for a place in the target's budget gets this session's place instead.
        return (
            not self._closed
            and len(self._idle) < self.max_idle
            and not self.target.sessions.waiting
        )

    def _expire(self, conn: asyncpg.Connection) -> None:
        """The idle timer of `conn` ran out: close it in the background."""
        kept = [e for e in self._idle if e.conn is not conn]
        if len(kept) == len(self._idle):  # taken or closed meanwhile: not ours to close
            return
        self._idle = kept
        self._close_later(conn)

    def _close_later(self, conn: asyncpg.Connection) -> None:
        task = asyncio.get_running_loop().create_task(self._close(conn))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(conn: asyncpg.Connection) -> None:
        with contextlib.suppress(Exception):  # targets.close terminates what it cannot close
            await targets.close(conn)

    async def close(self) -> None:
        """Closes every idle session; later releases close their sessions."""
        self._closed = True
        idle, self._idle = self._idle, []
        for entry in idle:
            entry.timer.cancel()
        await asyncio.gather(*(self._close(e.conn) for e in idle), *self._closing)


class Pools:
    """One `Pool` per target name, made on first use."""

    def __init__(self, settings: Settings, *, setup: str = "") -> None:
        self.settings = settings
        self.setup = setup
        self._pools: dict[str, Pool] = {}
        self._closed = False

    def of(self, target: TargetConfig) -> Pool:
        pool = self._pools.get(target.name)
        if pool is None:
            pool = self._pools[target.name] = Pool(
                target,
                connect_timeout=self.settings.connect_timeout_seconds,
                max_idle=0 if self._closed else self.settings.session_pool_size,
                idle_seconds=self.settings.session_idle_seconds,
                setup=self.setup,
            )
        return pool

    async def close(self) -> None:
        """Closes every pool (at the optimizer's stop); nothing is pooled after it."""
        self._closed = True
        await asyncio.gather(*(p.close() for p in self._pools.values()))
