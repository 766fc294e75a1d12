"""Runs the real `pgsage` command as a subprocess, without blocking the event loop that the
services of the test run in."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

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
