"""`pgsage.periodic.every`: runs its action on an interval, survives a failed round, and stops
with its block."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pgsage import errors, periodic


async def test_runs_every_interval_until_the_block_is_left():
    rounds = 0
    third = asyncio.Event()

    async def action() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            third.set()

    async with periodic.every(0.01, action, name="counting") as task:
        await asyncio.wait_for(third.wait(), 5)
    assert task.done()
    seen = rounds
    await asyncio.sleep(0.05)
    assert rounds == seen  # nothing runs after the block


async def test_a_failed_round_is_logged_and_the_next_one_runs(caplog):
    rounds = 0
    third = asyncio.Event()

    async def action() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            raise errors.Unavailable("the job store is down")
        if rounds == 2:
            raise RuntimeError("a bug")
        third.set()

    with caplog.at_level(logging.WARNING, logger="pgsage.periodic"):
        async with periodic.every(0.01, action, name="sweep"):
            await asyncio.wait_for(third.wait(), 5)
    messages = [r.getMessage() for r in caplog.records]
    assert "sweep skipped: the job store is down" in messages
    assert "sweep failed unexpectedly" in messages


async def test_a_cancel_of_the_caller_propagates_and_stops_the_loop():
    started = asyncio.Event()
    inner: list[asyncio.Task[None]] = []

    async def owner() -> None:
        async with periodic.every(0.01, asyncio.sleep, name="idle") as task:
            inner.append(task)
            started.set()
            await asyncio.sleep(60)

    running = asyncio.create_task(owner())
    await started.wait()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert inner[0].done()


async def test_an_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval must be positive"):
        async with periodic.every(0, asyncio.sleep, name="never"):
            pass
