"""The real `pgsage` command, run as a subprocess against a real job service."""

from __future__ import annotations

import pytest

from tests.support import stack as pgsage_stack
from tests.support.cli import Result, run_pgsage


@pytest.fixture(scope="module")
async def store():
    async with pgsage_stack.job_store("pgsage_cli") as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def service(store: str):
    async with pgsage_stack.job_service(store) as running:
        yield running


@pytest.fixture
def pgsage(service):
    async def _run(*args: str, **kwargs) -> Result:
        kwargs.setdefault("address", service.address)
        return await run_pgsage(*args, **kwargs)

    return _run
