"""Routes beyond one RPC: a job's result, its changes as Server-Sent Events, its patch."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.support.stack import error_of


async def _events(http: httpx.AsyncClient, path: str, headers: dict | None = None) -> list[dict]:
    """Reads an SSE stream to its end: [{"id", "event", "data"}, ...]."""
    events: list[dict] = []
    current: dict = {}
    async with http.stream("GET", path, headers=headers or {}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
                continue
            key, _, value = line.partition(": ")
            if key in ("id", "event", "data"):
                current[key] = value
    return events


async def test_result_is_202_while_running_then_200_with_suggestions(
    http, create_job, seed, finish
):
    job = await create_job()
    pending = await http.get(f"/v1/{job['name']}/result")
    assert pending.status_code == 202
    assert int(pending.headers["retry-after"]) >= 1
    assert pending.json()["job"]["state"] == "PENDING"
    suggestion = await seed(job["name"])
    await finish(job["name"])
    done = await http.get(f"/v1/{job['name']}/result")
    assert done.status_code == 200
    assert done.json()["job"]["state"] == "SUCCEEDED"
    assert [s["name"] for s in done.json()["suggestions"]] == [suggestion]


async def test_result_of_an_unknown_job_is_404(http):
    assert error_of(await http.get(f"/v1/jobs/{uuid.uuid4()}/result"))[:2] == (404, "NOT_FOUND")


async def test_events_stream_every_change_and_resume_after_last_event_id(
    http, create_job, seed, finish
):
    job = await create_job()
    await seed(job["name"])
    await seed(job["name"], column="created_at")
    await finish(job["name"])
    # Without a revision: the job as it is now (finished), then `end`.
    current = await _events(http, f"/v1/{job['name']}/events")
    assert [e.get("event") for e in current] == [None, "end"]
    latest = json.loads(current[0]["data"])
    assert latest["job"]["state"] == "SUCCEEDED"
    last = int(current[0]["id"])
    # Resuming after revision 1 replays every later change in order: no gap, no repeat.
    resumed = await _events(http, f"/v1/{job['name']}/events", {"Last-Event-ID": "1"})
    assert resumed[-1]["event"] == "end"
    replayed = [json.loads(e["data"]) for e in resumed if e.get("event") is None]
    assert [int(e["id"]) for e in resumed if e.get("event") is None] == list(range(2, last + 1))
    assert [e["eventType"] for e in replayed].count("suggestion") == 2
    assert replayed[-1]["job"]["state"] == "SUCCEEDED"
    with_suggestion = next(e for e in replayed if e["eventType"] == "suggestion")
    assert with_suggestion["suggestion"]["name"].startswith(job["name"])


async def test_events_of_an_unknown_job_is_404_and_a_bad_last_event_id_is_400(http):
    unknown = await http.get(f"/v1/jobs/{uuid.uuid4()}/events")
    assert error_of(unknown)[:2] == (404, "NOT_FOUND")
    job = (await http.post("/v1/jobs", json={"target": "demo"})).json()
    bad = await http.get(f"/v1/{job['name']}/events", headers={"Last-Event-ID": "yesterday"})
    status, _, _, metadata = error_of(bad)
    assert status == 400 and metadata["field"] == "sinceRevision"


async def test_patch_holds_the_approved_suggestions_edited_sql_first(http, create_job, seed):
    job = await create_job()
    plain = await seed(
        job["name"], column="customer_id", rationale="Orders are looked up by customer."
    )
    edited = await seed(job["name"], column="created_at")
    dismissed = await seed(job["name"], column="status")
    pending = await seed(job["name"], column="total")
    edit = (
        "CREATE INDEX CONCURRENTLY orders_created_at_brin ON public.orders (created_at)"
        " WHERE total > 0"
    )
    assert (await http.patch(f"/v1/{edited}", json={"editedSql": edit})).status_code == 200
    for name in (plain, edited):
        assert (await http.post(f"/v1/{name}:approve", json={})).status_code == 200
    assert (await http.post(f"/v1/{dismissed}:dismiss", json={})).status_code == 200

    response = await http.get(f"/v1/{job['name']}/patch.sql")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/sql")
    assert "attachment" in response.headers["content-disposition"]
    script = response.text
    statements = [line for line in script.splitlines() if line and not line.startswith("--")]
    assert statements == [
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id);",
        edit + ";",
    ]
    assert "BEGIN;" not in statements  # CONCURRENTLY cannot run in a transaction block
    assert "-- Orders are looked up by customer." in script
    assert (
        "-- CREATE INDEX CONCURRENTLY orders_created_at_idx" in script
    )  # the original, as a comment
    assert "status" not in "\n".join(statements) and "total)" not in script
    assert pending not in script and dismissed not in script


async def test_patch_of_a_job_without_approvals_says_so_and_unknown_is_404(http, create_job):
    job = await create_job()
    empty = await http.get(f"/v1/{job['name']}/patch.sql")
    assert empty.status_code == 200 and "no approved suggestion" in empty.text
    assert error_of(await http.get(f"/v1/jobs/{uuid.uuid4()}/patch.sql"))[:2] == (404, "NOT_FOUND")


async def test_events_arrive_while_the_stream_is_open(http, create_job, seed, finish):
    job = await create_job()
    seen: list[dict] = []
    async with http.stream("GET", f"/v1/{job['name']}/events") as response:
        lines = response.aiter_lines()
        async for line in lines:
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
                break
        # The stream is open and has delivered the job as it is: now it changes.
        await seed(job["name"])
        await finish(job["name"])
        async for line in lines:
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
            if line == "event: end":
                break
    assert seen[0]["job"]["state"] == "PENDING"
    assert [e["eventType"] for e in seen[1:]] == ["suggestion", "succeeded"]
    assert seen[-1]["job"]["state"] == "SUCCEEDED"
