"""Real answers of the gateway conform to its /openapi.json, which the UI's types come from.

Each body is validated against the response schema the document gives its operation (with
`additionalProperties: false` and the `required` lists from `google.api.field_behavior`), so
a field the document leaves out, a wrong JSON type, an enum outside its names, or a missing
always-present field (a resource's name) fails here before it misleads the generated types.
"""

from __future__ import annotations

import httpx
import jsonschema
import pytest


@pytest.fixture(scope="module")
async def document(http: httpx.AsyncClient) -> dict:
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _assert_conforms(document: dict, path: str, status: str, body: object) -> None:
    """`body` against the response schema of GET `path` (a template of the document)."""
    content = document["paths"][path]["get"]["responses"][status]["content"]
    schema = next(iter(content.values()))["schema"]
    validator = jsonschema.Draft7Validator(
        {"allOf": [schema], "components": document["components"]}
    )
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert problems == [], f"{path} {status}: {problems}"


async def test_jobs_and_suggestions_as_served_match_the_document(
    http, document, create_job, seed, finish
):
    job = await create_job()
    await seed(job["name"], rationale="orders by customer", workload_improvement_percent=42.5)
    await finish(job["name"])
    job_path = "/v1/" + job["name"]
    answers = {
        "/v1/jobs/{job}": await http.get(job_path),
        "/v1/jobs": await http.get("/v1/jobs"),
        "/v1/jobs/{job}/suggestions": await http.get(job_path + "/suggestions"),
        "/v1/jobs/{job}/result": await http.get(job_path + "/result"),
        "/v1/jobs:count": await http.get("/v1/jobs:count"),
        "/v1/auditRecords": await http.get("/v1/auditRecords"),
        "/v1/caller": await http.get("/v1/caller"),
        "/v1/diagnostics": await http.get("/v1/diagnostics"),
        "/healthz": await http.get("/healthz"),
        "/readyz": await http.get("/readyz"),
    }
    for path, response in answers.items():
        assert response.status_code == 200, (path, response.text)
        _assert_conforms(document, path, "200", response.json())
    # No optimizer here: the error body conforms to the document's Error schema.
    targets = await http.get("/v1/targets")
    assert targets.status_code == 503
    _assert_conforms(document, "/v1/targets", "503", targets.json())
    suggestions = answers["/v1/jobs/{job}/suggestions"].json()["suggestions"]
    assert suggestions and suggestions[0]["name"].startswith(job["name"])


async def test_a_body_outside_the_document_is_caught(http, document, create_job):
    """The check itself can fail: an unknown field, a number for an int64, a missing name."""
    job = (await http.get("/v1/" + (await create_job())["name"])).json()
    for wrong in (
        {**job, "surprise": True},
        {**job, "revision": 3},
        {k: v for k, v in job.items() if k != "name"},
        {**job, "state": "EXPLODED"},
    ):
        with pytest.raises(AssertionError):
            _assert_conforms(document, "/v1/jobs/{job}", "200", wrong)


async def test_field_behavior_sets_required_and_read_only(document):
    """A resource's name is in every answer and never sent; a job's target must be sent."""
    job = document["components"]["schemas"]["pgsage.jobs.v1.Job"]
    assert set(job["required"]) == {"name", "target"}
    assert job["properties"]["name"]["readOnly"] is True
    assert job["properties"]["state"]["readOnly"] is True
    assert job["properties"]["progress"]["readOnly"] is True  # a message: `allOf` + readOnly
    assert "readOnly" not in job["properties"]["target"]
    token = document["components"]["schemas"]["pgsage.jobs.v1.ApiToken"]
    assert {"name", "displayName", "roleBindings", "expireTime"} <= set(token["required"])


def _forged(name: str, schema: dict) -> object:
    """A value an attacker might send for a read-only field of the given schema."""
    if "enum" in schema:
        return schema["enum"][-1]
    if schema.get("format") == "date-time":
        return "2000-01-01T00:00:00Z"
    if schema.get("format") == "int64":
        return "99"
    if schema.get("type") == "integer":
        return 7
    if schema.get("type") == "boolean":
        return True
    return "jobs/00000000-0000-4000-8000-000000000000" if name == "name" else "mallory"


async def test_read_only_fields_sent_on_create_are_ignored(http, document):
    """The document marks output-only fields readOnly (so generated clients and the fuzzer
    leave them out); a client that sends them anyway still cannot set them."""
    job_schema = document["components"]["schemas"]["pgsage.jobs.v1.Job"]["properties"]
    forged = {
        name: _forged(name, schema)
        for name, schema in job_schema.items()
        if schema.get("readOnly") and "allOf" not in schema
    }
    assert {"name", "state", "creator", "revision", "attempt", "cancelRequested"} <= set(forged)
    response = await http.post("/v1/jobs", json={"target": "demo", **forged})
    assert response.status_code == 200, response.text
    job = response.json()
    for field, value in forged.items():
        assert job.get(field) != value, field
    assert job["state"] == "PENDING"
