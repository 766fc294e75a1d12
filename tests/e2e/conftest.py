"""The whole stack for browser tests: job store, optimizer with the demo target, job service,
and the gateway serving the BUILT UI (gateway/ui/dist); Chromium driven by playwright-core.

The browser side is `flow.mjs` (node, playwright-core from gateway/ui/node_modules, Debian's
/usr/bin/chromium). It asks pytest to do what the dispatcher will do (run a job) with a line
`@@ run <job>` on stdout and waits for `ok` on stdin.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "gateway"))
import pgsage_stack
from e2e_browser import CHROMIUM, PLAYWRIGHT, UI

from pgsage.demo import build as demo_build


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
