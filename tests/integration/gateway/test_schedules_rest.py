"""Schedules over REST: the ScheduleService's routes as its annotations say (`/v1/schedules`,
`/v1/schedules/{id}`, `:pause`, `:resume`), AIP-193 errors naming the field, roles through an
API token, and the OpenAPI document describing them.

A real job service (local mode, dispatcher paused) with an optimizer that knows three
targets, behind a real gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support import schedules as support
from tests.support import stack as pgsage_stack
from tests.support.stack import error_of


@pytest.fixture(scope="module")
async def http(store: str) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        support.known_targets() as optimizer_address,
        pgsage_stack.job_service(
            store,
            optimizer_address=optimizer_address,
            schedule_min_interval=timedelta(seconds=2),
        ) as service,
        pgsage_stack.gateway(service.address) as gateway,
        httpx.AsyncClient(base_url=gateway.url, timeout=20) as client,
    ):
        yield client


async def test_a_schedule_through_its_rest_routes(http: httpx.AsyncClient):
    created = await http.post(
        "/v1/schedules?requestId=rest-1",
        json={
            "displayName": "hourly",
            "target": "demo",
            "cron": "0 * * * *",
            "analysisTypes": ["MISSING_INDEXES"],
            "options": {"maxIndexes": 3},
        },
    )
    assert created.status_code == 200, created.text
    body = created.json()
    name = body["name"]
    assert name.startswith("schedules/") and body["timeZone"] == "UTC"
    assert body["analysisTypes"] == ["MISSING_INDEXES"] and body["options"] == {"maxIndexes": 3}
    next_run = datetime.fromisoformat(body["nextRunTime"].replace("Z", "+00:00"))
    assert next_run > datetime.now(UTC) and (next_run.minute, next_run.second) == (0, 0)

    assert (await http.get(f"/v1/{name}")).json() == body
    listed = await http.get("/v1/schedules", params={"filter": 'target = "demo"'})
    assert name in [s["name"] for s in listed.json()["schedules"]]

    patched = await http.patch(
        f"/v1/{name}?updateMask=cron,displayName",
        json={"cron": "15 * * * *", "displayName": "quarter past", "etag": body["etag"]},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["cron"], patched.json()["displayName"]) == ("15 * * * *", "quarter past")
    stale = await http.patch(f"/v1/{name}?updateMask=cron", json={"cron": "0 * * * *", "etag": "1"})
    status, code, reason, meta = error_of(stale)
    assert (status, code, reason, meta["field"]) == (409, "ABORTED", "ETAG_MISMATCH", "etag")

    paused = await http.post(f"/v1/{name}:pause", json={})
    assert paused.status_code == 200 and paused.json()["paused"] is True
    assert "nextRunTime" not in paused.json()
    resumed = await http.post(f"/v1/{name}:resume", json={})
    assert resumed.status_code == 200 and "paused" not in resumed.json()
    assert resumed.json()["nextRunTime"]

    deleted = await http.delete(f"/v1/{name}")
    assert (deleted.status_code, deleted.json()) == (200, {})
    status, code, reason, meta = error_of(await http.get(f"/v1/{name}"))
    assert (status, code, reason, meta["resource"]) == (
        404,
        "NOT_FOUND",
        "SCHEDULE_NOT_FOUND",
        name,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "demo", "cron": "not a cron"}, "schedule.cron"),
        ({"target": "demo", "cron": "* * * * * *"}, "schedule.cron"),
        ({"target": "elsewhere", "cron": "@daily"}, "schedule.target"),
        ({"cron": "@daily"}, "schedule.target"),
        ({"target": "demo", "cron": "@daily", "timeZone": "Nowhere/Land"}, "schedule.time_zone"),
        (
            {"target": "demo", "cron": "@daily", "options": {"maxIndexes": -2}},
            "schedule.options.max_indexes",
        ),
        (
            {"target": "demo", "cron": "@daily", "options": {"maxIndexes": "many"}},
            "schedule.options.maxIndexes",
        ),
        ({"target": "demo", "cron": "@daily", "paused": "yes"}, "schedule.paused"),
    ],
)
async def test_bad_schedules_are_400_naming_the_field(http: httpx.AsyncClient, body, field):
    status, code, _, meta = error_of(await http.post("/v1/schedules", json=body))
    assert (status, code, meta["field"]) == (400, "INVALID_ARGUMENT", field)


async def test_a_viewer_token_reads_schedules_but_cannot_change_them(http: httpx.AsyncClient):
    created = (await http.post("/v1/schedules", json={"target": "prod", "cron": "@daily"})).json()
    expire = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    token = await http.post(
        "/v1/apiTokens",
        json={
            "displayName": "reader",
            "roleBindings": [{"role": "VIEWER", "targets": "*"}],
            "expireTime": expire,
        },
    )
    viewer = {"Authorization": f"Bearer {token.json()['secret']}"}
    got = await http.get(f"/v1/{created['name']}", headers=viewer)
    assert got.status_code == 200 and got.json()["target"] == "prod"
    for response in (
        await http.post("/v1/schedules", json={"target": "prod", "cron": "@daily"}, headers=viewer),
        await http.post(f"/v1/{created['name']}:pause", json={}, headers=viewer),
        await http.delete(f"/v1/{created['name']}", headers=viewer),
    ):
        status, code, _, meta = error_of(response)
        assert (status, code, meta["target"]) == (403, "PERMISSION_DENIED", "prod")


async def test_the_openapi_document_describes_the_schedule_routes(http: httpx.AsyncClient):
    document = (await http.get("/openapi.json")).json()
    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/v1/schedules"])
    assert {"get", "patch", "delete"} <= set(paths["/v1/schedules/{schedule}"])
    assert "post" in paths["/v1/schedules/{schedule}:pause"]
    assert "post" in paths["/v1/schedules/{schedule}:resume"]
    assert paths["/v1/schedules"]["post"]["tags"] == ["ScheduleService"]
    schedule = document["components"]["schemas"]["pgsage.jobs.v1.Schedule"]
    assert schedule["properties"]["nextRunTime"]["readOnly"] is True
    assert set(schedule["required"]) >= {"name", "target", "cron"}
    job = document["components"]["schemas"]["pgsage.jobs.v1.Job"]
    assert {"schedule", "scheduleTime"} <= set(job["properties"])
    suggestion = document["components"]["schemas"]["pgsage.jobs.v1.Suggestion"]
    assert "newSinceLastAnalysis" in suggestion["properties"]
