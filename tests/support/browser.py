"""Runs a browser flow (tests/e2e/flow.mjs, node + playwright-core + Debian's Chromium) and answers
its requests (`@@ verb argument`) for what the test does meanwhile."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UI = REPO / "gateway" / "ui"
PLAYWRIGHT = UI / "node_modules" / "playwright-core" / "index.mjs"
FLOW = REPO / "tests" / "e2e" / "flow.mjs"
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"


async def run_flow(
    mode: str,
    base_url: str,
    on_request: Callable[[str, str], Awaitable[None]] | None = None,
    script: Path = FLOW,
    env: dict[str, str] | None = None,
) -> str:
    """Runs `node <script> mode` (flow.mjs unless told) against `base_url`, with `env` added;
    answers its `@@` requests; returns its output (asserting it passed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        "node",
        str(script),
        mode,
        env={
            **os.environ,
            **(env or {}),
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
