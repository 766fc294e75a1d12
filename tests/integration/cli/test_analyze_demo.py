"""`pgsage analyze --watch` of the demo target, run for real by the dispatcher on the
optimizer: progress while it runs, the suggestions at the end, then a review from the shell."""

from __future__ import annotations

import pytest

from tests.support import stack as pgsage_stack


@pytest.fixture(scope="module")
async def service(store: str):
    """Here the dispatcher runs jobs on a real optimizer that knows the demo target."""
    async with pgsage_stack.demo_database() as demo:
        async with pgsage_stack.optimizer(pgsage_stack.demo_targets(demo)) as optimizer:
            async with pgsage_stack.job_service(
                store, optimizer_address=optimizer.address, max_concurrent_jobs=2
            ) as running:
                yield running


async def test_analyze_watch_of_the_demo_then_review(pgsage):
    watched = await pgsage("analyze", "--target", "demo", "--watch")
    assert watched.code == 0, watched.err
    assert "running" in watched.err and "100.0% succeeded" in watched.err
    assert "state:        succeeded" in watched.out
    table = watched.out.split("\n\n")[-1].splitlines()
    assert table[0].split()[:4] == ["SUGGESTION", "STATE", "GAIN", "SIZE"]
    rows = table[1:]
    assert rows and all(" pending " in row for row in rows)
    job = next(line.split()[1] for line in watched.out.splitlines() if line.startswith("job:"))
    first = rows[0].split()[0]
    approved = await pgsage("suggestions", "approve", first, "--job", job)
    assert approved.code == 0 and approved.out.strip().endswith(": approved")
    listed = await pgsage("jobs", "list", "--state", "succeeded")
    assert job.removeprefix("jobs/") in listed.out

    # The change itself, from the shell: the command says what runs where and for how long,
    # and runs nothing until someone confirms (a script says --yes).
    targets = await pgsage("targets")
    assert targets.code == 0, targets.err
    header, row = targets.out.splitlines()[:2]
    assert header.split()[:4] == ["TARGET", "REACHABLE", "ENGINE", "APPLY"]
    assert row.split()[:4] == ["demo", "yes", "transactional", "allowed"]
    assert row.endswith("none           1 s"), row  # build timeout none, lock timeout 1 s
    name = f"{job}/suggestions/{first}"
    unconfirmed = await pgsage("apply", name, "--watch")
    assert unconfirmed.code == 2 and "nothing ran: confirm with --yes" in unconfirmed.err
    assert "APPLY on target demo:" in unconfirmed.err
    assert "CREATE INDEX CONCURRENTLY" in unconfirmed.err
    applied = await pgsage("apply", name, "--yes", "--lock-timeout", "30", "--watch")
    assert applied.code == 0, applied.err
    assert "build timeout: none; lock timeout: 30 s" in applied.err
    assert applied.out.strip().endswith(": succeeded"), applied.out
    shown = await pgsage("suggestions", "list", "--job", job, "--state", "applied")
    assert first in shown.out
    rolled = await pgsage("rollback", name, "--yes", "--watch")
    assert rolled.code == 0 and rolled.out.strip().endswith(": succeeded"), rolled.err
    bad = await pgsage("apply", name, "--yes", "--build-timeout", "-1")
    assert bad.code == 2 and "--build-timeout is 0 (none) to 86400 seconds" in bad.err
