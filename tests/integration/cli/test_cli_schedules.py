"""`pgsage schedules ...` against a real job service (and an optimizer that knows the
targets): create, list, show, update, pause, resume, delete, and errors in one line."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.support import schedules as support
from tests.support import stack as pgsage_stack
from tests.support.cli import run_pgsage


@pytest.fixture(scope="module")
async def address(store: str):
    async with (
        support.known_targets() as optimizer_address,
        pgsage_stack.job_service(
            store, optimizer_address=optimizer_address, schedule_min_interval=timedelta(seconds=2)
        ) as running,
    ):
        yield running.address


async def test_a_schedule_from_the_command_line(address: str):
    created = await run_pgsage(
        "schedules", "create", "--target", "demo", "--cron", "0 3 * * *",
        "--time-zone", "Europe/Paris", "--name", "nightly", "--analysis", "missing",
        "--budget-mb", "64", address=address,
    )  # fmt: skip
    assert created.code == 0, created.err
    name = re.search(r"schedule:\s+(schedules/\S+)", created.out).group(1)
    assert "0 3 * * * (Europe/Paris)" in created.out and "missing_indexes" in created.out
    assert "64.0 MB" in created.out and "active" in created.out

    listed = await run_pgsage("schedules", "list", "--target", "demo", address=address)
    assert listed.code == 0 and name.removeprefix("schedules/") in listed.out
    assert "nightly" in listed.out

    updated = await run_pgsage("schedules", "update", name, "--cron", "30 4 * * *", address=address)
    assert updated.code == 0, updated.err
    assert "30 4 * * * (Europe/Paris)" in updated.out and "nightly" in updated.out

    paused = await run_pgsage("schedules", "pause", name, address=address)
    assert (paused.code, paused.out.strip()) == (0, f"{name}: paused")
    shown = await run_pgsage("schedules", "show", name.removeprefix("schedules/"), address=address)
    assert re.search(r"state:\s+paused", shown.out) and re.search(r"next run:\s+-", shown.out)
    resumed = await run_pgsage("schedules", "resume", name, address=address)
    assert resumed.code == 0 and f"{name}: active, next run 20" in resumed.out

    deleted = await run_pgsage("schedules", "delete", name, address=address)
    assert deleted.code == 0 and "its jobs stay" in deleted.out
    gone = await run_pgsage("schedules", "show", name, address=address)
    assert gone.code == 1 and "does not exist" in gone.err


async def test_bad_input_is_one_line_naming_the_field(address: str):
    bad = await run_pgsage(
        "schedules", "create", "--target", "demo", "--cron", "* * * * * *", address=address
    )
    assert bad.code == 2  # INVALID_ARGUMENT: what was asked must change
    assert bad.err.count("\n") == 1 and "schedule.cron" in bad.err and "at most once" in bad.err
    unknown = await run_pgsage(
        "schedules", "create", "--target", "mars", "--cron", "@daily", address=address
    )
    assert unknown.code == 2 and "schedule.target" in unknown.err and "mars" in unknown.err
    usage = await run_pgsage("schedules", "pause", "not/a/name", address=address)
    assert usage.code == 2 and "is not a schedule" in usage.err
    nothing = await run_pgsage("schedules", "update", "abc", address=address)
    assert nothing.code == 2 and "nothing to update" in nothing.err
