"""Schedules across real job-service processes: one job per tick whichever replica fires it,
a replica SIGKILLed in the middle of firing a tick, ticks missed while every replica was down
run once on return; and an analysis compared with the previous one of its target.

The job services are subprocesses (`python -m job_service`) on a job store of the test's own;
they look for due ticks every 0.1 s and allow a schedule every second. In the ticking test
their dispatchers are paused (the ticks' jobs stay PENDING) and the optimizer is an
in-process one that only knows the target's name.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime

import asyncpg
import grpc

from pgsage.jobs.v1 import (
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    schedule_pb2,
    schedule_pb2_grpc,
    suggestion_pb2,
    webhook_pb2,
    webhook_pb2_grpc,
)
from tests.support import schedules as support
from tests.support.dispatch import Cluster, Proc, check_invariants, create_jobs, wait_finished

FAST = {
    "PGSAGE_JOBS_SCHEDULE_POLL_INTERVAL": "PT0.1S",
    "PGSAGE_JOBS_SCHEDULE_MIN_INTERVAL": "PT1S",
    "PGSAGE_JOBS_MAX_CONCURRENT_JOBS": "0",
}
FIRING = re.compile(r"firing \d+ schedule tick\(s\) due from (\S+) to (\S+)")


async def _until(predicate, limit: float = 60, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} never held in {limit}s")
        await asyncio.sleep(0.1)


async def _create_schedule(address: str, **fields) -> schedule_pb2.Schedule:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = schedule_pb2_grpc.ScheduleServiceStub(channel)
        return await stub.CreateSchedule(
            schedule_pb2.CreateScheduleRequest(schedule=schedule_pb2.Schedule(**fields)),
            timeout=10,
        )


async def _pause(address: str, name: str) -> schedule_pb2.Schedule:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = schedule_pb2_grpc.ScheduleServiceStub(channel)
        return await stub.PauseSchedule(schedule_pb2.PauseScheduleRequest(name=name), timeout=10)


def _last_tick_fired(proc: Proc) -> datetime:
    """The tick `proc` was firing last (its log says so before it commits)."""
    found = FIRING.findall(proc.log_path.read_text())
    assert found, proc.log_path.read_text()[-2000:]
    first, last = found[-1]
    assert first == last  # one schedule: one tick per batch
    return datetime.fromisoformat(first)


async def test_one_job_per_tick_through_a_kill_mid_fire_and_a_full_outage(cluster: Cluster):
    conn = await cluster.store_conn()
    async with support.known_targets(["shop"]) as optimizer:
        victim = cluster.job_service(optimizer, name="victim", **FAST)
        victim.start(PGSAGE_FAILPOINTS="schedule_fire=kill:3")
        other = cluster.job_service(optimizer, name="other", **FAST).start()
        await victim.wait_serving()
        await other.wait_serving()
        schedule = await _create_schedule(other.address, target="shop", cron="* * * * * *")

        # The victim dies on the third tick it fires, before its transaction commits.
        async def victim_died() -> bool:
            return not victim.alive()

        await _until(victim_died, what="the victim's kill at schedule_fire")
        assert ("schedule_fire", victim.popen.pid) in cluster.failpoint_hits()
        killed_tick = _last_tick_fired(victim)

        # The other replica fires that tick, once, and goes on ticking.
        async def ticks_after_the_kill(n: int) -> bool:
            ticks = await support.ticks_of(conn, schedule.name)
            return sum(1 for t, _ in ticks if t > killed_tick) >= n

        await _until(lambda: ticks_after_the_kill(3), what="ticks after the kill")
        ticks = dict(await support.ticks_of(conn, schedule.name))
        assert ticks[killed_tick] == 1
        assert set(ticks.values()) == {1}, ticks

        # Everything down for a few ticks: they run once, as one job, on return.
        other.kill()
        down_since = await conn.fetchval(
            "SELECT next_run_time FROM schedule WHERE id = $1", _id(schedule.name)
        )
        await asyncio.sleep(3.5)
        back = cluster.job_service(optimizer, name="back", **FAST).start()
        await back.wait_serving()

        async def fired_again() -> bool:
            ticks = await support.ticks_of(conn, schedule.name)
            return sum(1 for t, _ in ticks if t >= down_since) >= 2

        await _until(fired_again, what="ticks after the return")
        await _pause(back.address, schedule.name)
        rows = await conn.fetch(
            "SELECT id, schedule_time, create_time FROM job WHERE schedule_id = $1 "
            "AND schedule_time >= $2 ORDER BY schedule_time",
            _id(schedule.name),
            down_since,
        )
        # The first job after the outage is for the oldest missed tick; the next is for a
        # tick after it was created: the ticks missed in between were not run one by one.
        assert rows[0]["schedule_time"] == down_since
        assert rows[1]["schedule_time"] > rows[0]["create_time"]
        assert (rows[0]["create_time"] - down_since).total_seconds() > 2
        detail = await conn.fetchval(
            "SELECT detail FROM audit_record WHERE job_id = $1", rows[0]["id"]
        )
        assert "later tick(s) passed meanwhile" in detail
        ticks = await support.ticks_of(conn, schedule.name)
        assert {n for _, n in ticks} == {1}
        await check_invariants(conn)
    await conn.close()


def _id(name: str) -> uuid.UUID:
    return uuid.UUID(name.split("/")[1])


QUERIES = [
    "SELECT * FROM invoice WHERE account_id = 42",
    "SELECT count(*) FROM account WHERE email = 'user42@example.com'",
]


async def _suggestions(stub, job: str) -> list[suggestion_pb2.Suggestion]:
    listed = await stub.ListSuggestions(
        job_service_pb2.ListSuggestionsRequest(parent=job), timeout=10
    )
    return list(listed.suggestions)


async def test_an_analysis_marks_what_is_new_and_gone_since_the_previous_one(cluster: Cluster):
    opt = cluster.optimizer().start()
    await opt.wait_serving()
    js = cluster.job_service(opt).start()
    await js.wait_serving()
    async with grpc.aio.insecure_channel(js.address) as channel:
        stub = job_service_pb2_grpc.JobServiceStub(channel)
        # A destination for "analysis finished with new suggestions" (never reached here:
        # the events it is told about are what this test reads, in the outbox).
        await webhook_pb2_grpc.WebhookServiceStub(channel).CreateWebhook(
            webhook_pb2.CreateWebhookRequest(
                webhook=webhook_pb2.Webhook(
                    display_name="dba",
                    url="https://hooks.example.com/pgsage",
                    event_types=[webhook_pb2.ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS],
                )
            ),
            timeout=10,
        )
        [first_name] = await create_jobs(js.address, 1, queries=QUERIES)
        [first] = await wait_finished(js.address, [first_name], limit=90)
        assert first.state == job_pb2.Job.SUCCEEDED, first
        assert not first.summary.HasField("comparison")  # nothing to compare with
        before = await _suggestions(stub, first_name)
        email = next(s for s in before if "email" in s.sql and s.kind == s.CREATE_INDEX)
        invoice = next(s for s in before if "account_id" in s.sql)
        assert not any(s.new_since_last_analysis for s in before)

        # The target changes: the e-mail index now exists, twice.
        target = await asyncpg.connect(cluster.target_dsn)
        try:
            await target.execute("CREATE INDEX account_email_one ON account (email)")
            await target.execute("CREATE INDEX account_email_two ON account (email)")
            await target.execute("ANALYZE account")
            [second_name] = await create_jobs(js.address, 1, queries=QUERIES)
            [second] = await wait_finished(js.address, [second_name], limit=90)
        finally:
            await target.execute("DROP INDEX IF EXISTS account_email_one, account_email_two")
            await target.close()
        assert second.state == job_pb2.Job.SUCCEEDED, second
        comparison = second.summary.comparison
        assert comparison.previous_job == first_name
        after = await _suggestions(stub, second_name)
        duplicate = next(s for s in after if s.kind == s.DROP_DUPLICATE_INDEX)
        same_invoice = next(s for s in after if s.fingerprint == invoice.fingerprint)
        # New: the duplicate's drop, flagged on the suggestion; gone: the e-mail index.
        assert duplicate.fingerprint in comparison.new_fingerprints
        assert duplicate.new_since_last_analysis
        assert not same_invoice.new_since_last_analysis
        assert invoice.fingerprint not in comparison.new_fingerprints
        assert [g.fingerprint for g in comparison.gone] == [email.fingerprint]
        assert comparison.gone[0].title == email.title
        assert comparison.gone[0].suggestion == email.name
        assert comparison.new_count == len(comparison.new_fingerprints)
        assert comparison.gone_count == 1
        assert comparison.unchanged_count + comparison.changed_count == 1
        new_flags = {s.fingerprint for s in after if s.new_since_last_analysis}
        assert new_flags == set(comparison.new_fingerprints)
    conn = await cluster.store_conn()
    # The first analysis announced all it found; the second only what is new since the
    # first, not the invoice index it found again (still undecided).
    announced = {
        row["resource"]: json.loads(row["payload"])
        for row in await conn.fetch(
            "SELECT resource, payload FROM webhook_event "
            "WHERE event_type = 'ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS'"
        )
    }
    assert announced.keys() == {first_name, second_name}
    assert announced[first_name]["new_suggestions"] == len(before)
    assert announced[second_name]["new_suggestions"] == len(comparison.new_fingerprints)
    assert [s["name"] for s in announced[second_name]["suggestions"]] == [duplicate.name]
    await check_invariants(conn)
    await conn.close()
