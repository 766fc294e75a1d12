"""Keyset pagination while rows are inserted: no row present at the start repeats or skips."""

from __future__ import annotations

import asyncio

from pgsage.jobs.v1 import job_service_pb2


async def test_pages_never_repeat_or_skip_while_jobs_are_inserted(stub, create):
    seeded = [await create("paging") for _ in range(60)]
    expected = {j.name for j in seeded}
    stop = asyncio.Event()
    inserted: list[str] = []

    async def insert_meanwhile() -> None:
        while not stop.is_set():
            inserted.append((await create("paging")).name)
            await asyncio.sleep(0)

    writer = asyncio.create_task(insert_meanwhile())
    seen: list[str] = []
    keys: list[tuple[int, str]] = []
    token = ""
    pages = 0
    try:
        while True:
            page = await stub.ListJobs(
                job_service_pb2.ListJobsRequest(
                    filter='target = "paging"', page_size=7, page_token=token
                ),
                timeout=10,
            )
            seen.extend(j.name for j in page.jobs)
            keys.extend((j.create_time.ToNanoseconds(), j.name.split("/")[1]) for j in page.jobs)
            pages += 1
            # Rows newer than every page (and, from the writer, rows racing the reads).
            inserted.append((await create("paging")).name)
            inserted.append((await create("paging")).name)
            token = page.next_page_token
            if not token:
                break
    finally:
        stop.set()
        await writer
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert expected <= set(seen), "a row present at the start was skipped"
    assert len(inserted) >= 2 * pages > 0
    # Newest first throughout, by (create_time, id).
    assert keys == sorted(keys, reverse=True)
