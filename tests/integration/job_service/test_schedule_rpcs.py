"""ScheduleService over gRPC: create, read, list, update, pause, resume and delete a schedule;
what it refuses (naming the field); who may do what; and its ticks becoming jobs.

A real job service (dispatcher paused: the jobs the ticks create stay PENDING) on a database
of this module's own, with an identity provider (people by role), and an optimizer that knows
three targets. Schedules may tick every 2 seconds here (`schedule_min_interval`)."""

from __future__ import annotations

import asyncio
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest

from job_service import app
from pgsage import errors, rpc
from pgsage.jobs.v1 import (
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    schedule_pb2,
    schedule_pb2_grpc,
)
from tests.support import schedules as support
from tests.support.issuer import Issuer

BINDINGS = [
    {"group": "dba", "role": "ADMIN"},
    {"group": "viewers", "role": "VIEWER"},
    {"group": "operators", "role": "OPERATOR"},
    {"group": "staging-ops", "role": "OPERATOR", "targets": "staging-*"},
]
Schedule = schedule_pb2.Schedule


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


@pytest.fixture(scope="module")
def people(issuer):
    return {
        "dana": issuer.bearer("dana", groups=["dba"]),
        "vic": issuer.bearer("vic", groups=["viewers"]),
        "otto": issuer.bearer("otto", groups=["operators"]),
        "sam": issuer.bearer("sam", groups=["staging-ops"]),
        "nobody": issuer.bearer("nobody", groups=["unknown"]),
    }


@pytest.fixture(scope="module")
async def running(module_db, settings_for, issuer) -> AsyncIterator[app.RunningService]:
    async with support.known_targets() as optimizer_address:
        settings = settings_for(
            module_db,
            oidc_issuer=issuer.url,
            oidc_audience=issuer.audience,
            role_bindings=BINDINGS,
            optimizer_address=optimizer_address,
            schedule_poll_interval=timedelta(seconds=0.1),
            schedule_min_interval=timedelta(seconds=2),
        )
        service = await app.start(settings)
        yield service
        await service.stop(0.5)


@pytest.fixture(scope="module")
async def stubs(running) -> AsyncIterator[tuple]:
    async with grpc.aio.insecure_channel(running.address) as channel:
        yield (
            schedule_pb2_grpc.ScheduleServiceStub(channel),
            job_service_pb2_grpc.JobServiceStub(channel),
        )


@pytest.fixture
def sched(stubs):
    return stubs[0]


async def _refused(call) -> tuple[grpc.StatusCode, str, dict[str, str], str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    status = rpc.status_of(caught.value)
    reason, metadata = errors.from_status(status)
    return caught.value.code(), reason, metadata, status.message


async def _create(sched, who, **fields) -> Schedule:
    values = {"target": "demo", "cron": "0 3 * * *", **fields}
    return await sched.CreateSchedule(
        schedule_pb2.CreateScheduleRequest(schedule=Schedule(**values)), metadata=who
    )


async def test_a_schedule_is_created_read_listed_updated_and_deleted(sched, stubs, people):
    dana = people["dana"]
    created = await _create(
        sched,
        dana,
        display_name="nightly",
        cron="0 3 * * *",
        time_zone="Europe/Paris",
        analysis_types=[job_pb2.MISSING_INDEXES],
        options=job_pb2.AnalysisOptions(max_indexes=5),
    )
    assert created.name.startswith("schedules/") and created.creator == "Dana"
    assert (created.target, created.cron, created.time_zone) == (
        "demo",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert not created.paused and created.options.max_indexes == 5
    # The next run is the next 03:00 in Paris, whatever the offset that day.
    nxt = created.next_run_time.ToDatetime(tzinfo=UTC).astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    assert (nxt.hour, nxt.minute) == (3, 0) and nxt > datetime.now(UTC)

    got = await sched.GetSchedule(schedule_pb2.GetScheduleRequest(name=created.name), metadata=dana)
    assert got == created
    listed = await sched.ListSchedules(
        schedule_pb2.ListSchedulesRequest(filter='target = "demo"'), metadata=dana
    )
    assert created.name in [s.name for s in listed.schedules]

    update = schedule_pb2.UpdateScheduleRequest(
        schedule=Schedule(name=created.name, cron="30 4 * * *", etag=created.etag),
        update_mask={"paths": ["cron"]},
    )
    updated = await sched.UpdateSchedule(update, metadata=dana)
    assert updated.cron == "30 4 * * *" and updated.display_name == "nightly"
    assert updated.etag != created.etag
    nxt = updated.next_run_time.ToDatetime(tzinfo=UTC).astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    assert (nxt.hour, nxt.minute) == (4, 30)
    # The etag read before that update is stale now.
    code, reason, meta, _ = await _refused(sched.UpdateSchedule(update, metadata=dana))
    assert (code, reason, meta["field"]) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH", "etag")

    await sched.DeleteSchedule(schedule_pb2.DeleteScheduleRequest(name=created.name), metadata=dana)
    code, reason, _, _ = await _refused(
        sched.GetSchedule(schedule_pb2.GetScheduleRequest(name=created.name), metadata=dana)
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "SCHEDULE_NOT_FOUND")
    # Who did what is in the audit trail.
    jobs = stubs[1]
    trail = await jobs.ListAuditRecords(
        job_service_pb2.ListAuditRecordsRequest(filter=f'resource = "{created.name}"'),
        metadata=dana,
    )
    actions = [(r.action, r.actor) for r in reversed(trail.audit_records)]
    assert actions == [
        ("schedule.create", "Dana"),
        ("schedule.update", "Dana"),
        ("schedule.delete", "Dana"),
    ]
    assert "'0 3 * * *' -> '30 4 * * *'" in trail.audit_records[1].detail


async def test_a_retried_create_returns_the_same_schedule(sched, people):
    request = schedule_pb2.CreateScheduleRequest(
        schedule=Schedule(target="demo", cron="@daily"), request_id=f"r-{uuid.uuid4()}"
    )
    first = await sched.CreateSchedule(request, metadata=people["otto"])
    second = await sched.CreateSchedule(request, metadata=people["otto"])
    assert first == second


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"target": ""}, "schedule.target", "required"),
        ({"target": "nowhere"}, "schedule.target", "knows no target 'nowhere'"),
        ({"cron": ""}, "schedule.cron", "required"),
        ({"cron": "every day"}, "schedule.cron", "5 (minute hour"),
        ({"cron": "61 * * * *"}, "schedule.cron", "not a valid cron"),
        ({"cron": "0 0 30 2 *"}, "schedule.cron", "never fires"),
        ({"cron": "* * * * * */1 *"}, "schedule.cron", "7 fields"),
        ({"cron": "* * * * * *"}, "schedule.cron", "fires every 1 s; schedules run at most once"),
        ({"time_zone": "Mars/Olympus"}, "schedule.time_zone", "not an IANA time zone"),
        ({"analysis_types": [0]}, "schedule.analysis_types", "MISSING_INDEXES"),
        ({"options": {"max_indexes": -1}}, "schedule.options.max_indexes", "negative"),
        (
            {"options": {"min_improvement_percent": 120}},
            "schedule.options.min_improvement_percent",
            "0 to 100",
        ),
        ({"display_name": "x" * 101}, "schedule.display_name", "100"),
    ],
)
async def test_bad_settings_are_refused_naming_the_field(sched, people, fields, field, words):
    values = {"target": "demo", "cron": "0 3 * * *", **fields}
    code, _, meta, message = await _refused(
        sched.CreateSchedule(
            schedule_pb2.CreateScheduleRequest(schedule=Schedule(**values)),
            metadata=people["dana"],
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT, message
    assert meta["field"] == field and words in message, (meta, message)


async def test_bad_names_masks_and_filters_are_refused(sched, people):
    dana = people["dana"]
    code, reason, meta, _ = await _refused(
        sched.GetSchedule(schedule_pb2.GetScheduleRequest(name="jobs/x"), metadata=dana)
    )
    assert (code, reason, meta["field"]) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_NAME",
        "name",
    )
    created = await _create(sched, dana)
    code, _, meta, message = await _refused(
        sched.UpdateSchedule(
            schedule_pb2.UpdateScheduleRequest(
                schedule=Schedule(name=created.name, paused=True),
                update_mask={"paths": ["paused"]},
            ),
            metadata=dana,
        )
    )
    assert (code, meta["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "update_mask"), message
    # An update is validated like a create: a bad cron is refused, nothing changes.
    code, _, meta, _ = await _refused(
        sched.UpdateSchedule(
            schedule_pb2.UpdateScheduleRequest(
                schedule=Schedule(name=created.name, cron="nope"), update_mask={"paths": ["cron"]}
            ),
            metadata=dana,
        )
    )
    assert (code, meta["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, "schedule.cron")
    same = await sched.GetSchedule(
        schedule_pb2.GetScheduleRequest(name=created.name), metadata=dana
    )
    assert same == created
    code, reason, _, _ = await _refused(
        sched.ListSchedules(schedule_pb2.ListSchedulesRequest(filter="cron = x"), metadata=dana)
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_FILTER")


async def test_roles_decide_who_reads_and_who_changes_a_schedule(sched, people):
    prod = await _create(sched, people["otto"], target="prod")
    staging = await _create(sched, people["sam"], target="staging-1")
    # A viewer reads but cannot create, pause or delete.
    got = await sched.GetSchedule(
        schedule_pb2.GetScheduleRequest(name=prod.name), metadata=people["vic"]
    )
    assert got.name == prod.name
    code, _, meta, _ = await _refused(_create(sched, people["vic"]))
    assert (code, meta["permission"]) == (grpc.StatusCode.PERMISSION_DENIED, "schedules.create")
    for call in (
        sched.PauseSchedule(
            schedule_pb2.PauseScheduleRequest(name=prod.name), metadata=people["vic"]
        ),
        sched.DeleteSchedule(
            schedule_pb2.DeleteScheduleRequest(name=prod.name), metadata=people["vic"]
        ),
    ):
        code, _, meta, _ = await _refused(call)
        assert code == grpc.StatusCode.PERMISSION_DENIED and meta["target"] == "prod"
    # An operator of staging-* cannot create on prod, does not even see prod's schedule,
    # and cannot move a staging schedule to prod.
    code, _, meta, _ = await _refused(_create(sched, people["sam"], target="prod"))
    assert (code, meta["target"]) == (grpc.StatusCode.PERMISSION_DENIED, "prod")
    code, reason, _, _ = await _refused(
        sched.GetSchedule(schedule_pb2.GetScheduleRequest(name=prod.name), metadata=people["sam"])
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "SCHEDULE_NOT_FOUND")
    seen = await sched.ListSchedules(schedule_pb2.ListSchedulesRequest(), metadata=people["sam"])
    assert staging.name in [s.name for s in seen.schedules]
    assert {s.target for s in seen.schedules} == {"staging-1"}
    code, _, meta, _ = await _refused(
        sched.UpdateSchedule(
            schedule_pb2.UpdateScheduleRequest(
                schedule=Schedule(name=staging.name, target="prod"),
                update_mask={"paths": ["target"]},
            ),
            metadata=people["sam"],
        )
    )
    assert (code, meta["target"]) == (grpc.StatusCode.PERMISSION_DENIED, "prod")
    # ... but pauses, resumes and deletes their own.
    paused = await sched.PauseSchedule(
        schedule_pb2.PauseScheduleRequest(name=staging.name), metadata=people["sam"]
    )
    assert paused.paused
    await sched.DeleteSchedule(
        schedule_pb2.DeleteScheduleRequest(name=staging.name), metadata=people["sam"]
    )
    # Someone with no role at all is refused before anything is looked up.
    code, _, _, _ = await _refused(
        sched.ListSchedules(schedule_pb2.ListSchedulesRequest(), metadata=people["nobody"])
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _, _, _ = await _refused(sched.ListSchedules(schedule_pb2.ListSchedulesRequest()))
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def _jobs_of(module_db: str, name: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(module_db)
    try:
        return await conn.fetch(
            "SELECT id, kind, state, target, creator, schedule_time, analysis_types, options "
            "FROM job WHERE schedule_id = $1 ORDER BY schedule_time",
            uuid.UUID(name.split("/")[1]),
        )
    finally:
        await conn.close()


async def test_ticks_become_jobs_until_paused_and_again_once_resumed(
    sched, stubs, people, module_db, eventually
):
    dana = people["dana"]
    created = await _create(
        sched,
        people["otto"],
        target="staging-1",
        cron="* * * * * */2",
        analysis_types=[job_pb2.UNUSED_INDEXES],
        options=job_pb2.AnalysisOptions(max_queries=7),
    )

    async def at_least(n: int) -> bool:
        return len(await _jobs_of(module_db, created.name)) >= n

    await eventually(lambda: at_least(2))
    paused = await sched.PauseSchedule(
        schedule_pb2.PauseScheduleRequest(name=created.name, etag=created.etag), metadata=dana
    )
    assert paused.paused and not paused.HasField("next_run_time")
    assert paused.last_job and paused.HasField("last_run_time")
    # Pausing again answers with it unchanged.
    again = await sched.PauseSchedule(
        schedule_pb2.PauseScheduleRequest(name=created.name), metadata=dana
    )
    assert again.etag == paused.etag
    before = await _jobs_of(module_db, created.name)
    await asyncio.sleep(2.5)  # a tick passes while it is paused: it does not run
    assert await _jobs_of(module_db, created.name) == before
    # One job per tick, each an ANALYZE of the schedule's target with its options.
    ticks = [r["schedule_time"] for r in before]
    assert len(ticks) == len(set(ticks))
    assert all(t.microsecond == 0 for t in ticks)
    for row in before:
        assert (row["kind"], row["state"], row["target"]) == ("ANALYZE", "PENDING", "staging-1")
        assert row["creator"] == f"schedule:{created.name.split('/')[1]}"
        assert list(row["analysis_types"]) == ["UNUSED_INDEXES"]
        assert job_pb2.AnalysisOptions.FromString(row["options"]).max_queries == 7
    # The job says which schedule and tick made it; the audit trail says who, for whom.
    job = await stubs[1].GetJob(
        job_service_pb2.GetJobRequest(name=f"jobs/{before[-1]['id']}"), metadata=dana
    )
    assert job.schedule == created.name
    assert job.schedule_time.ToDatetime(tzinfo=UTC) == before[-1]["schedule_time"]
    assert paused.last_job == job.name
    trail = await stubs[1].ListAuditRecords(
        job_service_pb2.ListAuditRecordsRequest(filter=f'job = "{job.name}"'), metadata=dana
    )
    [record] = trail.audit_records
    assert (record.action, record.actor, record.on_behalf_of, record.resource) == (
        "job.create.analyze",
        "pgsage scheduler",
        "Otto",
        created.name,
    )
    resumed = await sched.ResumeSchedule(
        schedule_pb2.ResumeScheduleRequest(name=created.name), metadata=dana
    )
    assert not resumed.paused
    # From the next tick after now: the ones missed while paused are not caught up.
    assert resumed.next_run_time.ToDatetime(tzinfo=UTC) > before[-1]["schedule_time"] + timedelta(
        seconds=2
    )
    await eventually(lambda: at_least(len(before) + 1))
    await sched.DeleteSchedule(schedule_pb2.DeleteScheduleRequest(name=created.name), metadata=dana)
    # Its jobs stay.
    assert len(await _jobs_of(module_db, created.name)) > len(before)


async def test_an_update_without_a_mask_changes_what_it_sets_only(sched, people):
    dana = people["dana"]
    created = await _create(sched, dana, display_name="before", time_zone="Europe/Paris")
    updated = await sched.UpdateSchedule(
        schedule_pb2.UpdateScheduleRequest(
            schedule=Schedule(name=created.name, display_name="after")
        ),
        metadata=dana,
    )
    assert updated.display_name == "after"
    assert (updated.target, updated.cron, updated.time_zone) == (
        created.target,
        created.cron,
        created.time_zone,
    )
    # The cron did not change: neither did the next run.
    assert updated.next_run_time == created.next_run_time
