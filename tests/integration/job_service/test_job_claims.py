"""The dispatcher's claim statement and its wake-up, on a real job store: several jobs in one
statement, oldest first, never one another transaction holds or one waiting out a backoff;
and only a job becoming PENDING wakes a dispatcher."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg

from job_service import jobs, notifications, runs

LEASE = timedelta(seconds=30)


async def test_one_statement_claims_the_oldest_runnable_jobs_in_order(db, module_db, create):
    names = [(await create(target=f"claims-{n}")).name for n in range(5)]
    ids = [uuid.UUID(n.removeprefix("jobs/")) for n in names]
    async with db.connection() as conn:
        await _only_runnable(conn, ids)
        # The second waits out a retry backoff; the third carries a stored workload.
        await conn.execute(
            "UPDATE job SET run_after = now() + interval '1 hour' WHERE id = $1", ids[1]
        )
        await conn.execute("UPDATE job SET workload = $2 WHERE id = $1", ids[2], b"\x01\x02")
    holder = await asyncpg.connect(module_db)
    try:
        # Another dispatcher's claim transaction holds the oldest one.
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM job WHERE id = $1 FOR UPDATE", ids[0])
        async with db.connection() as conn:
            claimed = await runs.claim(conn, "js-test", LEASE, 3)
        await tx.rollback()
    finally:
        await holder.close()

    assert [job.id for job, _ in claimed] == [ids[2], ids[3], ids[4]]
    assert [workload for _, workload in claimed] == [b"\x01\x02", None, None]
    for job, _ in claimed:
        assert job.state == "RUNNING" and job.attempt == 1 and job.lease_owner == "js-test"
    async with db.connection() as conn:
        states = dict(await conn.fetch("SELECT id, state FROM job WHERE id = ANY($1)", ids))
        started = await conn.fetchval(
            "SELECT count(*) FROM job_event WHERE job_id = ANY($1) AND event_type = 'started'",
            ids,
        )
        # Nothing left to claim but the held one (free now) — the backoff one stays.
        again = await runs.claim(conn, "js-test", LEASE, 10)
    assert states[ids[0]] == "PENDING" and states[ids[1]] == "PENDING"
    assert started == 3
    assert [job.id for job, _ in again] == [ids[0]]


async def test_only_a_job_becoming_pending_wakes_the_dispatcher(db, module_db, create):
    raw = await asyncpg.connect(module_db)
    payloads: list[str] = []
    await raw.add_listener(jobs.CHANNEL, lambda *args: payloads.append(args[-1]))
    listener = notifications.Listener(module_db)
    woken: list[float] = []
    listener.on_runnable(lambda: woken.append(asyncio.get_running_loop().time()))
    await listener.start()
    try:
        assert await listener.wait_connected(5)
        await asyncio.sleep(0.2)
        woken.clear()  # the connect itself wakes (anything may have changed)
        job = await create(target="claims-wake")
        job_id = uuid.UUID(job.name.removeprefix("jobs/"))
        await _eventually(lambda: len(woken) == 1)
        async with listener.subscribe(job_id) as bell, db.connection() as conn:
            await _only_runnable(conn, [job_id])
            claimed = await runs.claim(conn, "js-wake", LEASE, 1)
            assert [j.id for j, _ in claimed] == [job_id]
            assert await bell.wait(5)  # the claim is an event its watchers hear...
            assert bell.take() == claimed[0][0].revision
            await asyncio.sleep(0.3)
            assert len(woken) == 1  # ...but it wakes no dispatcher
            await runs.requeue(
                conn,
                job_id,
                "js-wake",
                error=None,
                used_attempt=False,
                delay=timedelta(0),
                ttl=timedelta(days=1),
            )
        await _eventually(lambda: len(woken) == 2)  # PENDING again: runnable
    finally:
        await listener.close()
        await raw.close()
    # The payload names the job, its revision and its state after each change.
    ours = [p for p in payloads if p.startswith(str(job_id))]
    assert [p.split(" ")[1:] for p in ours] == [
        ["1", "PENDING"],
        ["2", "RUNNING"],
        ["3", "PENDING"],
    ]


async def _only_runnable(conn: asyncpg.Connection, ids: list[uuid.UUID]) -> None:
    """Other tests' PENDING jobs in this database wait out a long backoff meanwhile."""
    await conn.execute(
        "UPDATE job SET run_after = now() + interval '1 day' "
        "WHERE state = 'PENDING' AND NOT (id = ANY($1))",
        ids,
    )


async def _eventually(predicate, limit: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
