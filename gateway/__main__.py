"""`python -m gateway`: serves the REST API and the UI until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging

from gateway import app
from gateway.settings import GatewaySettings

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


def main() -> None:
    settings = GatewaySettings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
