"""`python -m job_service`: migrate the job store, then serve until SIGTERM (exit 0).

Settings come from `PGSAGE_JOBS_*` environment variables (see `job_service.settings`).
Without `PGSAGE_JOBS_DATABASE_URL` an embedded PostgreSQL starts in `PGSAGE_JOBS_DATA_DIR`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

import pydantic

from job_service import app, oidc
from job_service.settings import Settings
from pgsage import errors, server, tls

log = logging.getLogger("job_service")


async def _serve(settings: Settings) -> None:
    running = await app.start(settings)
    # Everything allocated so far lives as long as the process: keep it out of the
    # collector's full passes, which would otherwise add milliseconds to unlucky calls.
    gc.collect()
    gc.freeze()
    await server.wait_for_signal()
    log.info("stopping: NOT_SERVING, then draining")
    await running.stop()


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings()
    except pydantic.ValidationError as exc:
        log.error("invalid settings (PGSAGE_JOBS_*):\n%s", exc)
        return 2
    except tls.SettingsError as exc:
        log.error("cannot start: %s", exc)
        return 2
    logging.getLogger().setLevel(settings.log_level.upper())
    try:
        asyncio.run(_serve(settings))
    except oidc.ConfigError as exc:
        log.error("invalid authentication settings: %s", exc)
        return 2
    except app.EmbeddedStoreInUse as exc:
        log.error("%s", exc)
        return 1
    except errors.PgsageError as exc:
        log.error("cannot start: %s", exc.message)
        return 1
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
