"""max_target_load: a build waits while the target is busier than its limit, saying why in
its progress, and starts once it is calm; a target without the setting never waits."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import pytest

from pgsage.optimizer.v1 import advice_pb2, analysis_pb2
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from tests.support.apply import SUCCEEDED, collect, seeded_database, started_optimizer, statements
from tests.support.pg import drop_database, dsn_for

__all__ = ["started_optimizer"]  # the fixture, used by name

CREATE = advice_pb2.ADVICE_KIND_CREATE_INDEX
SEED = """
CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g;
"""


@pytest.fixture(scope="module")
async def database():
    name = await seeded_database("load", SEED)
    yield name
    await drop_database(name)


def busy_target(database: str, **load: object) -> dict[str, object]:
    return {
        "name": "busy",
        "dsn": dsn_for(database),
        "apply_allowed": True,
        "max_target_load": {"active_sessions": 0, "check_seconds": 0.2, **load},
    }


async def test_a_build_waits_while_the_target_is_busy_then_runs(database, started_optimizer):
    stub = await started_optimizer([busy_target(database)])
    other = await asyncpg.connect(dsn_for(database))
    try:
        # Someone else's query keeps one session active for 1.5 s.
        busy = asyncio.create_task(other.execute("SELECT pg_sleep(1.5)"))
        await asyncio.sleep(0.3)
        sql = "CREATE INDEX CONCURRENTLY t_v_idx ON public.t (v)"
        events, error = await collect(
            stub.Apply(pb.ApplyRequest(target="busy", kind=CREATE, sql=sql))
        )
        await busy
    finally:
        await other.close()
    assert error is None, error
    paused = [
        e.message for e in events if isinstance(e, analysis_pb2.Progress) and e.stage == "paused"
    ]
    assert paused, events
    # Active sessions of the whole server (other work on it counts too), pgsage's own not.
    assert re.search(
        r"[1-9]\d* active sessions on busy, over max_target_load.active_sessions = 0", paused[0]
    ), paused
    # It ran once the other session was done, and before that ran nothing.
    assert sql in statements(events, SUCCEEDED)
    first_statement = next(i for i, e in enumerate(events) if isinstance(e, pb.StatementExecution))
    last_pause = max(
        i
        for i, e in enumerate(events)
        if isinstance(e, analysis_pb2.Progress) and e.stage == "paused"
    )
    assert last_pause < first_statement


async def test_a_bad_load_setting_is_refused_at_start_up():
    from pydantic import ValidationError

    from optimizer_service.settings import Settings

    with pytest.raises(ValidationError) as caught:
        Settings(
            targets=[
                {"name": "x", "dsn": "postgresql://h/d", "max_target_load": {"active_sessions": -1}}
            ]
        )
    assert "max_target_load" in str(caught.value)
