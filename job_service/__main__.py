"""`python -m job_service`: migrate the job store, then serve until SIGTERM (exit 0).

Settings come from `PGSAGE_JOBS_*` environment variables (see `job_service.settings`).
Without `PGSAGE_JOBS_DATABASE_URL` an embedded PostgreSQL starts in `PGSAGE_JOBS_DATA_DIR`.
"""

from __future__ import annotations

import sys

from job_service import app
from job_service.settings import Settings
from pgsage import server


def main() -> int:
    return server.main(
        service="job service",
        settings_type=Settings,
        env_prefix="PGSAGE_JOBS_",
        serve=app.serve,
        log_level=lambda settings: settings.log_level,
    )


if __name__ == "__main__":
    sys.exit(main())
