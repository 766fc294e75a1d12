"""`python -m optimizer_service`: settings from the environment (PGSAGE_OPTIMIZER_*), then
serve until SIGTERM/SIGINT (NOT_SERVING first, then drain, then close the pooled target
sessions)."""

from __future__ import annotations

import asyncio
import logging
import sys

from pydantic import ValidationError

from optimizer_service import app
from optimizer_service.settings import Settings
from pgsage import server, tls

log = logging.getLogger("optimizer_service")


async def _serve(settings: Settings) -> None:
    running = await app.start(settings)
    try:
        await server.run_until_signal(running.server, grace=settings.grace_seconds)
    finally:
        await running.servicer.close()  # the pooled target sessions, politely


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings()
    except tls.SettingsError as exc:
        log.error("cannot start: %s", exc)
        return 2
    except (ValidationError, ValueError, OSError) as exc:
        # Settings errors can echo input values, so name only where the problem is.
        where = [".".join(str(p) for p in e["loc"]) for e in getattr(exc, "errors", list)()] or [
            type(exc).__name__
        ]
        log.error("invalid optimizer settings (PGSAGE_OPTIMIZER_*): %s", ", ".join(where))
        return 2
    try:
        asyncio.run(_serve(settings))
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
