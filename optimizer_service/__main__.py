"""`python -m optimizer_service`: settings from the environment (PGSAGE_OPTIMIZER_*), then
serve until SIGTERM/SIGINT (NOT_SERVING first, then drain, then close the pooled target
sessions)."""

from __future__ import annotations

import sys

from optimizer_service import app
from optimizer_service.settings import Settings
from pgsage import server


def main() -> int:
    return server.main(
        service="optimizer",
        settings_type=Settings,
        env_prefix="PGSAGE_OPTIMIZER_",
        serve=app.serve,
    )


if __name__ == "__main__":
    sys.exit(main())
