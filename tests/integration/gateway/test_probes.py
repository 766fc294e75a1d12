"""/healthz and /readyz: ready only while the job service is SERVING, and why not."""

from __future__ import annotations

import asyncio
from importlib import metadata

import httpx

from pgsage.embedded import free_port
from tests.support import clusters
from tests.support import stack as pgsage_stack

HEALTH_JSON = "application/health+json"


async def test_healthz_answers_while_the_process_lives(http):
    response = await http.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "status": "pass",
        "version": metadata.version("pgsage"),
        "uptime_seconds": body["uptime_seconds"],
    }
    assert isinstance(body["uptime_seconds"], int) and body["uptime_seconds"] >= 0
    assert response.headers["content-type"].startswith(HEALTH_JSON)


async def test_readyz_is_200_with_a_warning_when_only_the_optimizer_is_down(http):
    response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(HEALTH_JSON)
    body = response.json()
    assert body["status"] == "warn"
    assert body["checks"]["jobService"][0]["status"] == "pass"
    assert body["checks"]["database"][0]["status"] == "pass"
    assert body["checks"]["optimizer"][0]["status"] == "warn"
    assert "optimizer" in body["output"]


async def test_readyz_is_503_when_the_job_service_cannot_be_reached():
    async with pgsage_stack.gateway(f"127.0.0.1:{free_port()}") as gw:
        async with httpx.AsyncClient(base_url=gw.url) as client:
            response = await client.get("/readyz")
            alive = await client.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(HEALTH_JSON)
    body = response.json()
    assert body["status"] == "fail"
    assert body["output"].startswith("job service unreachable: ")
    assert alive.status_code == 200


async def test_readyz_is_503_naming_the_database_when_the_job_store_is_down():
    async with clusters.own_cluster("gateway-probes") as postgres:
        async with pgsage_stack.job_service(postgres.dsn("postgres")) as service:
            async with pgsage_stack.gateway(service.address) as gw:
                async with httpx.AsyncClient(base_url=gw.url) as client:
                    assert (await client.get("/readyz")).status_code == 200
                    await asyncio.to_thread(postgres.stop)
                    response = None
                    for _ in range(100):
                        response = await client.get("/readyz")
                        if response.status_code == 503:
                            break
                        await asyncio.sleep(0.1)
    assert response is not None and response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["jobService"][0]["status"] == "fail"
    assert body["checks"]["database"][0]["status"] == "fail"
    assert body["output"].startswith("database: ")
    assert "postgres@" not in response.text  # no DSN in what the probe says
