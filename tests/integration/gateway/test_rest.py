"""Every REST route of the job service through the gateway, against a real job service."""

from __future__ import annotations

import getpass
import uuid

from gateway import routes
from pgsage.jobs.v1 import job_service_pb2, schedule_pb2
from tests.support.stack import error_of


def test_every_annotated_rpc_has_a_route():
    annotated = {
        m.name
        for service in (
            job_service_pb2.DESCRIPTOR.services_by_name["JobService"],
            schedule_pb2.DESCRIPTOR.services_by_name["ScheduleService"],
        )
        for m in service.methods
        if not m.server_streaming
    }
    assert {r.rpc for r in routes.ROUTES} == annotated
    get_job = next(r for r in routes.ROUTES if r.rpc == "GetJob")
    assert get_job.match("jobs/abc") is None
    assert get_job.match("/v1/jobs/abc") == {"name": "jobs/abc"}
    assert get_job.match("/v1/jobs/abc:cancel") is None


async def test_create_job_takes_camel_and_snake_case_and_answers_camel_case(http):
    camel = await http.post(
        "/v1/jobs",
        json={"target": "demo", "analysisTypes": ["MISSING_INDEXES"], "options": {"maxIndexes": 3}},
    )
    snake = await http.post(
        "/v1/jobs", json={"target": "demo", "analysis_types": [1], "options": {"max_indexes": 3}}
    )
    for response in (camel, snake):
        assert response.status_code == 200, response.text
        job = response.json()
        assert job["state"] == "PENDING" and job["kind"] == "ANALYZE"
        assert job["analysisTypes"] == ["MISSING_INDEXES"]
        assert job["options"] == {"maxIndexes": 3}
        assert job["name"].startswith("jobs/") and job["revision"] == "1"


async def test_create_job_with_request_id_is_idempotent(http):
    request_id = f"rest-{uuid.uuid4()}"
    first = await http.post(f"/v1/jobs?requestId={request_id}", json={"target": "demo"})
    again = await http.post(f"/v1/jobs?request_id={request_id}", json={"target": "demo"})
    assert first.status_code == again.status_code == 200
    assert first.json()["name"] == again.json()["name"]


async def test_get_list_count_jobs(http, create_job):
    job = await create_job("count-target")
    got = await http.get(f"/v1/{job['name']}")
    assert got.status_code == 200 and got.json() == job
    page = await http.get("/v1/jobs", params={"pageSize": 1, "filter": 'target = "count-target"'})
    assert page.status_code == 200
    assert [j["name"] for j in page.json()["jobs"]] == [job["name"]]
    counts = await http.get("/v1/jobs:count", params={"filter": 'target = "count-target"'})
    assert counts.status_code == 200
    by_state = {c["state"]: int(c.get("count", "0")) for c in counts.json()["counts"]}
    assert by_state["PENDING"] == 1 and by_state["SUCCEEDED"] == 0
    assert counts.json()["total"] == "1"


async def test_list_jobs_pages_with_the_next_page_token(http, create_job):
    target = f"pages-{uuid.uuid4().hex[:6]}"
    made = [(await create_job(target))["name"] for _ in range(3)]
    seen: list[str] = []
    token = ""
    for _ in range(5):
        params = {"pageSize": 2, "filter": f'target = "{target}"', "pageToken": token}
        body = (await http.get("/v1/jobs", params=params)).json()
        seen += [j["name"] for j in body.get("jobs", [])]
        token = body.get("nextPageToken", "")
        if not token:
            break
    assert seen == list(reversed(made))


async def test_cancel_with_a_stale_etag_is_409_then_cancel_and_retry(http, create_job):
    job = await create_job()
    stale = await http.post(f"/v1/{job['name']}:cancel", json={"etag": 'W/"999"'})
    assert error_of(stale)[:3] == (409, "ABORTED", "ETAG_MISMATCH")
    cancelled = await http.post(f"/v1/{job['name']}:cancel", json={"etag": job["etag"]})
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "CANCELLED"
    # An empty body is a request with no optional field set.
    again = await http.post(f"/v1/{job['name']}:cancel")
    assert again.status_code == 200 and again.json()["state"] == "CANCELLED"
    retried = await http.post(f"/v1/{job['name']}:retry", json={})
    assert retried.status_code == 200 and retried.json()["state"] == "PENDING"
    illegal = await http.post(f"/v1/{job['name']}:retry", json={})
    assert error_of(illegal)[:3] == (400, "FAILED_PRECONDITION", "INVALID_STATE_TRANSITION")


async def test_delete_a_finished_job(http, create_job, finish):
    job = await create_job()
    unfinished = await http.delete(f"/v1/{job['name']}")
    assert error_of(unfinished)[:2] == (400, "FAILED_PRECONDITION")
    await finish(job["name"])
    deleted = await http.delete(f"/v1/{job['name']}")
    assert deleted.status_code == 200 and deleted.json() == {}
    gone = await http.get(f"/v1/{job['name']}")
    assert error_of(gone)[:3] == (404, "NOT_FOUND", "JOB_NOT_FOUND")


async def test_suggestions_list_get_approve_dismiss(http, create_job, seed):
    job = await create_job()
    first = await seed(job["name"], column="customer_id")
    second = await seed(job["name"], column="created_at")
    listed = await http.get(f"/v1/{job['name']}/suggestions")
    assert listed.status_code == 200
    assert {s["name"] for s in listed.json()["suggestions"]} == {first, second}
    everywhere = await http.get("/v1/jobs/-/suggestions", params={"filter": "state = PENDING"})
    assert {first, second} <= {s["name"] for s in everywhere.json()["suggestions"]}

    got = (await http.get(f"/v1/{first}")).json()
    assert got["state"] == "PENDING" and got["tables"] == ["public.orders"]
    stale = await http.post(f"/v1/{first}:approve", json={"etag": 'W/"0"'})
    assert error_of(stale)[:3] == (409, "ABORTED", "ETAG_MISMATCH")
    approved = await http.post(f"/v1/{first}:approve", json={"etag": got["etag"]})
    assert approved.status_code == 200 and approved.json()["state"] == "APPROVED"
    dismissed = await http.post(f"/v1/{second}:dismiss", json={"reason": "not now"})
    assert dismissed.status_code == 200 and dismissed.json()["state"] == "DISMISSED"
    illegal = await http.post(f"/v1/{second}:approve", json={})
    assert error_of(illegal)[:3] == (400, "FAILED_PRECONDITION", "INVALID_STATE_TRANSITION")
    filtered = await http.get(
        f"/v1/{job['name']}/suggestions", params={"filter": "state = APPROVED"}
    )
    assert [s["name"] for s in filtered.json()["suggestions"]] == [first]


async def test_update_suggestion_validates_the_edited_sql(http, create_job, seed):
    job = await create_job()
    name = await seed(job["name"])
    edited = (
        "CREATE INDEX CONCURRENTLY orders_customer_id_idx ON public.orders (customer_id)"
        " INCLUDE (total)"
    )
    response = await http.patch(
        f"/v1/{name}", params={"updateMask": "editedSql"}, json={"editedSql": edited}
    )
    assert response.status_code == 200, response.text
    assert response.json()["editedSql"] == edited
    assert response.json()["sql"].startswith("CREATE INDEX CONCURRENTLY orders_customer_id_idx")
    bad = await http.patch(f"/v1/{name}", json={"editedSql": "DROP TABLE public.orders"})
    status, code, _, metadata = error_of(bad)
    assert (status, code) == (400, "INVALID_ARGUMENT")
    assert metadata["field"] == "suggestion.edited_sql"
    stale = await http.patch(f"/v1/{name}", json={"editedSql": edited, "etag": 'W/"0"'})
    assert error_of(stale)[:2] == (409, "ABORTED")


async def test_get_suggestion_of_an_unknown_job_is_404(http):
    missing = await http.get(f"/v1/jobs/{uuid.uuid4()}/suggestions/{uuid.uuid4()}")
    assert error_of(missing)[:3] == (404, "NOT_FOUND", "SUGGESTION_NOT_FOUND")


async def test_targets_without_an_optimizer_is_503_and_diagnostics_say_why(http):
    targets = await http.get("/v1/targets")
    status, code, reason, _ = error_of(targets)
    assert (status, code) == (503, "UNAVAILABLE")
    assert reason == "OPTIMIZER_UNAVAILABLE"
    diagnostics = await http.get("/v1/diagnostics")
    assert diagnostics.status_code == 200
    by_name = {d["name"]: d for d in diagnostics.json()["dependencies"]}
    assert by_name["database"]["status"] == "OK"
    assert by_name["optimizer"]["status"] != "OK"


async def test_the_actor_header_is_not_trusted_by_the_audit_trail(http, create_job, seed):
    job = await create_job()
    name = await seed(job["name"], column="status")
    approved = await http.post(
        f"/v1/{name}:approve", json={}, headers={"x-pgsage-actor": "dba@example.com"}
    )
    assert approved.status_code == 200
    trail = await http.get("/v1/auditRecords", params={"filter": f'resource = "{name}"'})
    assert trail.status_code == 200
    [record] = trail.json()["auditRecords"]
    # Anyone could send that header; the job service records the verified caller instead
    # (local mode: the OS user running it).
    assert record["actor"] == getpass.getuser()
    assert record["action"] == "suggestion.approve"
    assert record.get("authenticated", False) is True
