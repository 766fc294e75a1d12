"""The whole stack for browser tests: job store, optimizer with the demo target, job service,
and the gateway serving the BUILT UI (gateway/ui/dist); Chromium driven by playwright-core.

The browser side is `flow.mjs` (node, playwright-core from gateway/ui/node_modules, Debian's
/usr/bin/chromium). It asks pytest to do what the dispatcher will do (run a job) with a line
`@@ run <job>` on stdout and waits for `ok` on stdin.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "gateway"))
import pgsage_stack

from pgsage.demo import build as demo_build

REPO = pgsage_stack.REPO
UI = REPO / "gateway" / "ui"
PLAYWRIGHT = UI / "node_modules" / "playwright-core" / "index.mjs"
FLOW = Path(__file__).with_name("flow.mjs")
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def built_ui() -> Path:
    """The UI build the gateway serves (setup-machine.sh builds it; a missing one fails here)."""
    index = UI / "dist" / "index.html"
    assert index.is_file(), "gateway/ui/dist is not built: run `npm ci && npm run build` there"
    assert PLAYWRIGHT.is_file(), "playwright-core is not installed: run `npm ci` in gateway/ui"
    assert Path(CHROMIUM).is_file(), "Chromium is not installed: apt-get install chromium"
    return UI / "dist"


@pytest.fixture(scope="module")
async def demo_dsn() -> str:
    """A small demo shop on the shared server, as the optimizer's `demo` target."""
    name = f"pgsage_e2e_demo_{uuid.uuid4().hex[:8]}"
    built = await demo_build.build(pgsage_stack.SHARED_PG, name, 0.01, 1)
    yield built.dsn
    conn = await asyncpg.connect(pgsage_stack.SHARED_PG)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run_flow(
    mode: str,
    base_url: str,
    on_request: Callable[[str, str], Awaitable[None]] | None = None,
) -> str:
    """Runs `node flow.mjs mode` against `base_url`; answers its `@@` requests; returns its
    output (asserting it passed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        "node",
        str(FLOW),
        mode,
        env={
            **os.environ,
            "PGSAGE_URL": base_url,
            "PLAYWRIGHT_CORE": str(PLAYWRIGHT),
            "CHROMIUM": CHROMIUM,
            "ARTIFACTS": str(ARTIFACTS),
        },
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None and process.stdin is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(180):
            async for raw in process.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                lines.append(line)
                if line.startswith("@@ "):
                    _, verb, argument = line.split(" ", 2)
                    assert on_request is not None, line
                    await on_request(verb, argument)
                    process.stdin.write(b"ok\n")
                    await process.stdin.drain()
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    output = "\n".join(lines)
    assert process.returncode == 0, output[-5000:]
    return output


def targets_for(dsn: str) -> list[dict]:
    return [{"name": "demo", "dsn": dsn, "what_if_engine": "transactional"}]
