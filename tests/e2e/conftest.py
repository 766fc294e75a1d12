"""The whole stack for browser tests: job store, optimizer with the demo target, job service,
and the gateway serving the BUILT UI (gateway/ui/dist); Chromium driven by playwright-core.

The browser side is `flow.mjs` (node, playwright-core from gateway/ui/node_modules, Debian's
/usr/bin/chromium). test_analysis.py lets the dispatcher run a real analysis of the demo
target; test_ui.py pauses it and runs its job itself when the flow asks (`@@ run <job>` on
stdout, `ok` on stdin), so that it knows the exact suggestions to edit and conflict over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import stack as pgsage_stack
from tests.support.browser import CHROMIUM, PLAYWRIGHT, UI


@pytest.fixture(scope="session")
def built_ui() -> Path:
    """The UI build the gateway serves (setup-run.sh builds it; a missing one fails here)."""
    index = UI / "dist" / "index.html"
    assert index.is_file(), "gateway/ui/dist is not built: run `npm ci && npm run build` there"
    assert PLAYWRIGHT.is_file(), "playwright-core is not installed: run `npm ci` in gateway/ui"
    assert Path(CHROMIUM).is_file(), "Chromium is not installed: apt-get install chromium"
    return UI / "dist"


@pytest.fixture(scope="module")
async def demo_dsn() -> AsyncIterator[str]:
    """A small demo shop on the shared server, as the optimizer's `demo` target."""
    async with pgsage_stack.demo_database() as dsn:
        yield dsn
