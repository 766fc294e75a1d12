"""The OpenAPI document written from the routes, and the UI served on the same port."""

from __future__ import annotations

import httpx

from gateway import routes
from tests.support import stack as pgsage_stack


async def test_openapi_describes_every_route_with_its_schemas(http):
    response = await http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    operations = {
        op["operationId"]: (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    for route in routes.ROUTES:
        _path, method, op = operations[route.rpc]
        assert method == route.http_method.lower()
        assert op["responses"]["200"]["content"]["application/json"]["schema"]
        assert "default" in op["responses"]
        if route.body:
            assert "requestBody" in op, route.rpc
    assert operations["GetJob"][0] == "/v1/jobs/{job}"
    assert operations["CancelJob"][0] == "/v1/jobs/{job}:cancel"
    assert operations["UpdateSuggestion"][0] == "/v1/jobs/{job}/suggestions/{suggestion}"
    list_params = {p["name"] for p in operations["ListJobs"][2]["parameters"]}
    assert list_params == {"pageSize", "pageToken", "filter"}
    for extra in ("GetJobResult", "WatchJobEvents", "GetJobPatch", "Liveness", "Readiness"):
        assert extra in operations
    job = document["components"]["schemas"]["pgsage.jobs.v1.Job"]
    assert {"name", "state", "analysisTypes", "createTime"} <= set(job["properties"])
    assert job["properties"]["state"]["enum"][1] == "PENDING"
    refs = {
        value.rsplit("/", 1)[-1]
        for value in _walk(document)
        if isinstance(value, str) and value.startswith("#/components/schemas/")
    }
    assert refs <= set(document["components"]["schemas"])


def _walk(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)
    else:
        yield node


async def test_ui_files_and_client_side_routes_fall_back_to_index(service, tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>pgsage ui</title>")
    (tmp_path / "assets" / "app-123.js").write_text("console.log('pgsage')")
    (tmp_path.parent / "secret.txt").write_text("not for the web")
    async with pgsage_stack.gateway(service.address, ui_dir=tmp_path) as gw:
        async with httpx.AsyncClient(base_url=gw.url) as client:
            index = await client.get("/")
            page = await client.get("/jobs/0b9c8c5e-0000-4000-8000-000000000000")
            asset = await client.get("/assets/app-123.js")
            missing = await client.get("/assets/nope.js")
            escape = await client.get("/..%2Fsecret.txt")
            api_miss = await client.get("/v1/nothing")
    assert index.status_code == 200 and "pgsage ui" in index.text
    assert page.status_code == 200 and "pgsage ui" in page.text
    assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
    assert missing.status_code == 404
    assert "not for the web" not in escape.text
    assert api_miss.status_code == 404 and api_miss.json()["error"]["status"] == "NOT_FOUND"


async def test_ui_not_built_says_how_to_build_it(service, tmp_path):
    async with pgsage_stack.gateway(service.address, ui_dir=tmp_path / "none") as gw:
        async with httpx.AsyncClient(base_url=gw.url) as client:
            response = await client.get("/")
    assert response.status_code == 503 and "npm run build" in response.text
