"""Running a coroutine from a synchronous test without disturbing the session's event loop.

`asyncio.run` ends by setting the main thread's current loop to None, after which code
that asks for "the current loop" outside a coroutine (grpc.aio channels made in a sync
fixture) fails for every later test of the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_apart(coro: Coroutine[Any, Any, T]) -> T:
    """Runs `coro` to its end on a loop of its own, leaving the current loop as it was."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
