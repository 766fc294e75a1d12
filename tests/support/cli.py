"""Runs the real `pgsage` command as a subprocess, without blocking the event loop that the
services of the test run in."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PGSAGE = Path(sys.executable).with_name("pgsage")


@dataclass
class Result:
    code: int
    out: str
    err: str


# The CLI reads a token from PGSAGE_TOKEN or from $XDG_CONFIG_HOME/pgsage/token: a test run
# never uses the credentials of whoever runs it, only those a test gives.
CONFIG_HOME = tempfile.mkdtemp(prefix="pgsage-cli-config-")
atexit.register(shutil.rmtree, CONFIG_HOME, ignore_errors=True)


async def run_pgsage(
    *args: str,
    address: str | None = None,
    env: dict[str, str | None] | None = None,
    stdin: str | None = None,
) -> Result:
    """Runs `pgsage args...` to its end without blocking the event loop the services use
    (`env` values of None unset a variable; `stdin` is written to its standard input)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PGSAGE_TOKEN", "PGSAGE_ACTOR")}
    environment["XDG_CONFIG_HOME"] = CONFIG_HOME
    for key, value in (env or {}).items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    argv = [str(PGSAGE), *(["--address", address] if address else []), *args]
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    out, err = await asyncio.wait_for(
        process.communicate(stdin.encode() if stdin is not None else None), 120
    )
    result = Result(process.returncode or 0, out.decode(), err.decode())
    assert "Traceback" not in result.err, result.err
    return result
