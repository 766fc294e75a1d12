"""`python -m gateway`: serves the REST API and the UI until SIGTERM or SIGINT."""

from __future__ import annotations

import sys

from gateway import app
from gateway.settings import GatewaySettings
from pgsage import server


def main() -> int:
    return server.main(
        service="gateway",
        settings_type=GatewaySettings,
        env_prefix="PGSAGE_GATEWAY_",
        serve=app.serve,
        log_level=lambda settings: settings.log_level,
    )


if __name__ == "__main__":
    sys.exit(main())
