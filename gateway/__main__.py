"""`python -m gateway`: serves the REST API and the UI until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

import pydantic

from gateway import app
from gateway.settings import GatewaySettings
from pgsage import tls

log = logging.getLogger("gateway")


async def _main(settings: GatewaySettings) -> None:
    running = await app.start(settings)
    log.info(
        "gateway on http://%s:%d (job service at %s)",
        settings.host,
        running.port,
        settings.job_service_address,
    )
    await running.task


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = GatewaySettings()
    except tls.SettingsError as exc:
        log.error("cannot start: %s", exc)
        return 2
    except pydantic.ValidationError as exc:
        # Name where the problem is, not the values (they may hold secrets).
        where = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        log.error("invalid gateway settings (PGSAGE_GATEWAY_*): %s", where)
        return 2
    logging.getLogger().setLevel(settings.log_level.upper())
    asyncio.run(_main(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
