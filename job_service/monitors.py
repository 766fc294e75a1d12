"""Background checks that drive health: PostgreSQL for the job service, and the optimizer.

`DatabaseMonitor` pings the job store every `interval`: while it is unreachable, `""` and
`pgsage.jobs.v1.JobService` are NOT_SERVING; when it answers again they are SERVING (and the
pool, whose connections all died with the server, is renewed) — no restart needed.
`OptimizerMonitor` reports the optimizer under its own health name, so an optimizer outage
never makes the job store look down. Both keep their last check for GetDiagnostics.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from job_service import checks, database, errors, optimizer
from pgsage import health, periodic

log = logging.getLogger(__name__)


class DatabaseMonitor:
    def __init__(
        self,
        db: database.Database,
        servicer: health.HealthServicer,
        names: Sequence[str],
        *,
        interval: float,
    ) -> None:
        self._db = db
        self._health = servicer
        self._names = list(names)
        self.interval = interval
        self.last: checks.Check | None = None
        self.serving = False
        self._had_outage = False

    async def check_once(self) -> checks.Check:
        now = datetime.now(UTC)
        started = time.monotonic()
        try:
            latency = await self._db.ping()
            check = checks.Check(True, "answering", now, latency)
        except errors.DatabaseUnavailable as exc:
            check = checks.Check(False, exc.message, now, time.monotonic() - started)
        self.last = check
        await self._apply(check)
        return check

    async def _apply(self, check: checks.Check) -> None:
        if self._health.shutting_down:
            return
        if check.ok and not self.serving:
            if self._had_outage:
                # Every pooled connection died with the server: start afresh.
                await self._db.reset_pool()
            log.info("job store database is reachable: SERVING")
        elif not check.ok and self.serving:
            log.warning("job store database is unreachable: NOT_SERVING (%s)", check.message)
        self.serving = check.ok
        self._had_outage = self._had_outage or not check.ok
        status = health.SERVING if check.ok else health.NOT_SERVING
        for name in self._names:
            await self._health.set(name, status)

    def watching(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Checks every `interval` while the block runs (the first check is `check_once`'s,
        made by whoever starts the service, before it reports SERVING)."""
        return periodic.every(self.interval, self.check_once, name="job store health check")


class OptimizerMonitor:
    def __init__(
        self, client: optimizer.OptimizerClient, servicer: health.HealthServicer, *, interval: float
    ) -> None:
        self._client = client
        self._health = servicer
        self.interval = interval
        self.last: checks.Check | None = None

    async def check_once(self) -> checks.Check:
        check = await self._client.check()
        if self.last is None or self.last.ok != check.ok:
            log.info("optimizer %s: %s", "reachable" if check.ok else "unavailable", check.message)
        self.last = check
        if not self._health.shutting_down:
            status = health.SERVING if check.ok else health.NOT_SERVING
            await self._health.set(optimizer.SERVICE_NAME, status)
        return check

    def watching(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Checks every `interval` while the block runs."""
        return periodic.every(self.interval, self.check_once, name="optimizer health check")
