"""Schemathesis fuzzes the REST API from its own /openapi.json: no input may cause a 500.

Runs the `st` command (schemathesis, pinned in pyproject) against a gateway and job service
of this module, bounded by examples per operation; only `not_a_server_error` is checked
(error bodies are asserted exactly in test_errors.py).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from gateway import routes
from tests.support import stack as pgsage_stack

ST = Path(sys.executable).with_name("st")


@pytest.fixture(scope="module")
async def service(store: str):
    """Here the job service has a real optimizer (with no target), so every route can 200."""
    async with pgsage_stack.optimizer() as optimizer:
        async with pgsage_stack.job_service(store, optimizer_address=optimizer.address) as running:
            yield running


async def test_fuzzing_the_rest_api_finds_no_server_error(gateway, create_job, tmp_path):
    await create_job()  # one real job, so list and count routes return data
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "run",
        f"{gateway.url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        "20",
        # One worker: hypothesis describes filters with ast.parse, which is not thread-safe
        # on Python 3.11 ("AST constructor recursion depth mismatch" under 2 workers).
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--seed",
        "20261124",
        "--no-color",
        cwd=tmp_path,  # schemathesis keeps its example database in the working directory
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    assert "Server error" not in text
    # Every route of the document was exercised: the transcoded RPCs and the five of the gateway.
    assert f"Tested: {len(routes.ROUTES) + 5}" in text, text[-3000:]
