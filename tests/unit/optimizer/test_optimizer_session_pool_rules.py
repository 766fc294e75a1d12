"""The rules of the optimizer's session pool, on fake sessions (no I/O): newest idle first,
at most `max_idle` kept, only clean sessions kept, idle ones closed after `idle_seconds`
and at close; and the reset batch a session gets before it is kept."""

from __future__ import annotations

import asyncio

import pytest

from optimizer_service import pool, targets
from optimizer_service.settings import TargetConfig

RESET = "DEALLOCATE ALL"


class FakeSession:
    """The part of asyncpg.Connection the pool uses, recording what was done to it."""

    def __init__(self, name: str, *, in_transaction: bool = False, broken: bool = False):
        self.name = name
        self.in_transaction = in_transaction
        self.broken = broken
        self.executed: list[str] = []
        self.closed = self.terminated = False

    def is_closed(self) -> bool:
        return self.closed or self.terminated

    def is_in_transaction(self) -> bool:
        return self.in_transaction

    async def execute(self, sql: str, timeout: float | None = None) -> str:  # noqa: ASYNC109 - asyncpg's signature
        if self.broken:
            raise ConnectionResetError("gone")
        self.executed.append(sql)
        return "SELECT 1"

    async def close(self) -> None:
        self.closed = True

    def terminate(self) -> None:
        self.terminated = True


def make_pool(max_idle: int = 4, idle_seconds: float = 60) -> pool.Pool:
    target = TargetConfig(name="t", dsn="postgresql://nobody@127.0.0.1:1/none")
    return pool.Pool(target, connect_timeout=1, max_idle=max_idle, idle_seconds=idle_seconds)


async def probe(conn: FakeSession) -> str:
    await conn.execute("probe")
    return conn.name


async def test_the_newest_idle_session_is_taken_first_and_probed():
    sessions = make_pool()
    a, b = FakeSession("a"), FakeSession("b")
    await sessions.release(a, RESET)
    await sessions.release(b, RESET)
    assert a.executed == b.executed == [RESET]
    assert await sessions.acquire(probe) == (b, "b")
    assert await sessions.acquire(probe) == (a, "a")
    assert b.executed == [RESET, "probe"] and sessions.idle == 0
    await sessions.close()


async def test_at_most_max_idle_sessions_are_kept_and_zero_keeps_none():
    sessions = make_pool(max_idle=2)
    kept = [FakeSession(n) for n in "ab"]
    surplus = FakeSession("c")
    for conn in [*kept, surplus]:
        await sessions.release(conn, RESET)
    assert sessions.idle == 2 and surplus.closed and surplus.executed == []
    assert not any(c.is_closed() for c in kept)
    await sessions.close()

    off = make_pool(max_idle=0)
    conn = FakeSession("d")
    await off.release(conn, RESET)
    assert off.idle == 0 and conn.closed


@pytest.mark.parametrize(
    ("session", "closed", "terminated"),
    [
        (FakeSession("in a transaction", in_transaction=True), True, False),
        (FakeSession("reset fails", broken=True), False, True),
    ],
    ids=["in-transaction", "reset-fails"],
)
async def test_only_a_clean_session_is_kept(session, closed, terminated):
    sessions = make_pool()
    await sessions.release(session, RESET)
    assert sessions.idle == 0
    assert (session.closed, session.terminated) == (closed, terminated)


async def test_a_session_seen_closed_while_idle_is_passed_over_without_a_probe():
    sessions = make_pool()
    alive, dead = FakeSession("alive"), FakeSession("dead")
    await sessions.release(alive, RESET)
    await sessions.release(dead, RESET)
    dead.terminate()  # as asyncpg marks a session whose server went away
    assert await sessions.acquire(probe) == (alive, "alive")
    assert dead.executed == [RESET]
    await sessions.close()


async def test_idle_sessions_are_closed_after_idle_seconds_unless_reused():
    sessions = make_pool(idle_seconds=0.05)
    idle, reused = FakeSession("idle"), FakeSession("reused")
    await sessions.release(idle, RESET)
    await sessions.release(reused, RESET)
    assert await sessions.acquire(probe) == (reused, "reused")
    for _ in range(200):
        if idle.closed:
            break
        await asyncio.sleep(0.01)
    assert idle.closed and sessions.idle == 0
    assert not reused.is_closed()  # its timer was cancelled when it was taken
    await sessions.close()


async def test_close_closes_idle_sessions_and_later_releases():
    sessions = make_pool()
    idle, busy = FakeSession("idle"), FakeSession("busy")
    await sessions.release(idle, RESET)
    await sessions.close()
    assert idle.closed and sessions.idle == 0
    await sessions.release(busy, RESET)
    assert busy.closed and sessions.idle == 0


def caps(hypopg: str = "", can_hide: bool = False) -> targets.Capabilities:
    return targets.Capabilities("15.2", 150002, False, hypopg, can_hide)


def test_the_reset_batch_clears_what_the_target_has_and_names_the_session_idle():
    assert targets.idle_reset_sql(caps()) == (
        "/* pgsage */ DEALLOCATE ALL; /* pgsage */ "
        "SELECT set_config('application_name', 'pgsage-optimizer (idle)', false)"
    )
    with_hypopg = targets.idle_reset_sql(caps("1.3.1"))
    assert "hypopg_reset()" in with_hypopg and "unhide" not in with_hypopg
    assert "hypopg_unhide_all_indexes()" in targets.idle_reset_sql(caps("1.4.1", can_hide=True))
    assert f"'{targets.IDLE_APPLICATION_NAME}'" in with_hypopg
