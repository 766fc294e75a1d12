"""`pgsage analyze --watch` of the demo target, run for real by the dispatcher on the
optimizer: progress while it runs, the suggestions at the end, then a review from the shell."""

from __future__ import annotations

import pgsage_stack
import pytest


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
