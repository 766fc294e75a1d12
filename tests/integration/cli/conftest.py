"""The real `pgsage` command, run as a subprocess against a real job service."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway"))
import pgsage_stack

PGSAGE = Path(sys.executable).with_name("pgsage")


@dataclass
class Result:
    code: int
    out: str
    err: str


async def run_pgsage(*args: str, address: str | None = None, env: dict | None = None) -> Result:
    """Runs `pgsage args...` to its end without blocking the event loop the services use."""
    environment = {**os.environ, **(env or {})}
    argv = [str(PGSAGE), *(["--address", address] if address else []), *args]
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    result = Result(process.returncode or 0, out.decode(), err.decode())
    assert "Traceback" not in result.err, result.err
    return result


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
