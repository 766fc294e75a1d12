"""A real job service (on a job store of this module's own) behind a real gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import stack as pgsage_stack


@pytest.fixture(scope="module")
async def store() -> AsyncIterator[str]:
    async with pgsage_stack.job_store() as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def service(store: str):
    async with pgsage_stack.job_service(store) as running:
        yield running


@pytest.fixture(scope="module")
async def gateway(service):
    async with pgsage_stack.gateway(service.address) as running:
        yield running


@pytest.fixture(scope="module")
async def http(gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as client:
        yield client


@pytest.fixture
def create_job(http: httpx.AsyncClient):
    """Creates an ANALYZE job through REST and returns its JSON."""

    async def _create(target: str = "demo", **fields: object) -> dict:
        response = await http.post("/v1/jobs", json={"target": target, **fields})
        assert response.status_code == 200, response.text
        return response.json()

    return _create


@pytest.fixture
def seed(store: str):
    async def _seed(job_name: str, **fields: object) -> str:
        return await pgsage_stack.seed_suggestion(store, job_name, **fields)

    return _seed


@pytest.fixture
def finish(store: str):
    async def _finish(job_name: str, state: str = "SUCCEEDED") -> None:
        await pgsage_stack.finish_job(store, job_name, state)

    return _finish
