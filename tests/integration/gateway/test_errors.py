"""HTTP errors: the AIP-193 body with the status of google/rpc/code.proto, never a 500."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from pgsage.embedded import free_port
from tests.support import stack as pgsage_stack
from tests.support.stack import error_of


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "reason"),
    [
        ("POST", "/v1/jobs", b"{not json", "body", "MALFORMED_JSON"),
        ("POST", "/v1/jobs", b"[1, 2]", "body", "INVALID_ARGUMENT"),
        ("POST", "/v1/jobs", b'{"target": "demo", "colour": 1}', "job.colour", "MALFORMED_REQUEST"),
        (
            "POST",
            "/v1/jobs",
            b'{"target": "demo", "kind": "REPAIR"}',
            "job.kind",
            "MALFORMED_REQUEST",
        ),
        (
            "POST",
            "/v1/jobs",
            b'{"target": "demo", "options": {"maxIndexes": "many"}}',
            "job.options.maxIndexes",
            "MALFORMED_REQUEST",
        ),
        ("GET", "/v1/jobs?pageSize=ten", b"", "pageSize", "INVALID_ARGUMENT"),
        ("GET", "/v1/jobs?pageSize=99999999999", b"", "pageSize", "INVALID_ARGUMENT"),
        ("GET", "/v1/jobs?colour=red", b"", "colour", "UNKNOWN_FIELD"),
        ("GET", "/v1/jobs?filter=a&filter=b", b"", "filter", "INVALID_ARGUMENT"),
        ("GET", "/v1/jobs?filter=state%20%3D%20HAPPY", b"", "filter", "INVALID_FILTER"),
        ("GET", "/v1/jobs?pageToken=garbage", b"", "page_token", "INVALID_PAGE_TOKEN"),
        ("GET", "/v1/jobs/not-a-uuid", b"", "name", "INVALID_NAME"),
        ("GET", "/v1/jobs", b'{"x": 1}', "body", "INVALID_ARGUMENT"),
        ("POST", "/v1/jobs/x:cancel?name=jobs/y", b"", "name", "INVALID_ARGUMENT"),
        ("POST", "/v1/jobs", b"", "job", "REQUIRED_FIELD_MISSING"),
        ("POST", "/v1/jobs", b'{"target": "de\\u0000mo"}', "job.target", "INVALID_ARGUMENT"),
        ("GET", "/v1/jobs?filter=%00", b"", "filter", "INVALID_ARGUMENT"),
    ],
)
async def test_bad_input_is_400_naming_the_field(http, method, path, body, field, reason):
    response = await http.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    status, code, got_reason, metadata = error_of(response)
    assert (status, code) == (400, "INVALID_ARGUMENT"), response.text
    assert metadata.get("field") == field, response.text
    assert got_reason == reason, response.text


async def test_unknown_route_is_404_and_wrong_method_is_405(http):
    assert error_of(await http.get("/v1/nothing-here"))[:3] == (404, "NOT_FOUND", "ROUTE_NOT_FOUND")
    status, _, reason, _ = error_of(await http.put(f"/v1/jobs/{uuid.uuid4()}"))
    assert (status, reason) == (405, "METHOD_NOT_ALLOWED")


async def test_unknown_job_is_404(http):
    response = await http.get(f"/v1/jobs/{uuid.uuid4()}")
    assert error_of(response)[:3] == (404, "NOT_FOUND", "JOB_NOT_FOUND")


async def test_job_service_unreachable_is_503():
    async with pgsage_stack.gateway(f"127.0.0.1:{free_port()}", call_timeout=5) as gw:
        async with httpx.AsyncClient(base_url=gw.url) as client:
            response = await client.get("/v1/jobs")
    status, code, reason, metadata = error_of(response)
    assert (status, code, reason) == (503, "UNAVAILABLE", "JOB_SERVICE_UNAVAILABLE")
    assert response.json()["error"]["message"] == "job service unavailable"
    assert metadata == {"service": "job_service"}


async def test_deadline_exceeded_is_504():
    # A "job service" that accepts connections and never answers: the call's deadline fires.
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with pgsage_stack.gateway(f"127.0.0.1:{port}", call_timeout=0.5) as gw:
            async with httpx.AsyncClient(base_url=gw.url) as client:
                response = await client.get("/v1/jobs")
    finally:
        for writer in held:
            writer.close()
        silent.close()
        await silent.wait_closed()
    status, code, _, _ = error_of(response)
    assert (status, code) == (504, "DEADLINE_EXCEEDED")
    assert response.json()["error"]["message"] == "job service did not answer in time"
