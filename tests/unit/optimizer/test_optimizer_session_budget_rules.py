"""The session budget's rules on their own: places are taken and given back, work beyond the
limit waits (saying so) until a place frees, an idle kept session is reclaimed before anyone
waits, and optional work never waits."""

from __future__ import annotations

import asyncio

from optimizer_service.budget import SessionBudget


async def test_work_beyond_the_limit_waits_saying_so_until_a_place_frees():
    budget = SessionBudget("shop", 2)
    await budget.take()
    await budget.take()
    told: list[str] = []
    third = asyncio.create_task(budget.take(told.append))
    await asyncio.sleep(0.01)
    assert not third.done()
    assert told == ["waiting for a session on shop (2 of 2 in use by this optimizer)"]
    assert budget.waiting == 1
    budget.give()
    await asyncio.wait_for(third, 1)
    assert budget.open == 2 and budget.waiting == 0


async def test_optional_work_takes_a_free_place_or_none_and_never_waits():
    budget = SessionBudget("shop", 1)
    assert await budget.try_take()
    assert not await budget.try_take()
    budget.give()
    assert await budget.try_take()


async def test_an_idle_kept_session_is_reclaimed_before_anyone_waits():
    budget = SessionBudget("shop", 1)
    await budget.take()  # held by an idle kept session
    reclaimed: list[bool] = []

    def reclaim() -> bool:
        reclaimed.append(True)
        asyncio.get_running_loop().call_soon(budget.give)  # its close frees the place
        return True

    budget.on_reclaim(reclaim)
    told: list[str] = []
    await asyncio.wait_for(budget.take(told.append), 1)
    assert reclaimed == [True]
    assert budget.open == 1
