"""The job service's own Prometheus metrics (served by `pgsage.scrape` on
`PGSAGE_JOBS_METRICS_PORT`, with the RPC metrics of `pgsage.metrics`).

- `pgsage_jobs{kind, state}`: jobs in the store, counted in one GROUP BY at scrape time
  (`JobCounts`, bounded by `pgsage.scrape.SCRAPE_TIMEOUT`; left out when the store does not
  answer). Every replica reports the whole store: aggregate with max, not sum.
- `pgsage_job_run_seconds{kind, outcome}`: how long one run (attempt) of a job took in this
  process, by how it ended: the job's final state (SUCCEEDED, FAILED, CANCELLED), RETRY
  (back to PENDING for another attempt), HANDED_BACK (shutdown), LEASE_LOST, ERROR.
- `pgsage_job_reconciled_total{state}`: jobs whose lease lapsed (their owner died or
  stalled) taken over by this process's reconciliation, by the state they were put in.
- `pgsage_webhook_delivery_attempts_total{outcome}` and
  `pgsage_webhook_delivery_seconds{outcome}`: webhook POSTs this process made, by what the
  attempt left the delivery in: DELIVERED, RETRY (another attempt later) or FAILED.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from job_service import database
from pgsage.metrics import LATENCY_BUCKETS

RUN_SECONDS = Histogram(
    "pgsage_job_run_seconds",
    "Duration of one run (attempt) of a job in this process, by kind and how it ended.",
    ["kind", "outcome"],
    buckets=LATENCY_BUCKETS,
)
RECONCILED = Counter(
    "pgsage_job_reconciled",
    "Jobs with a lapsed lease taken over by reconciliation, by the state they were put in.",
    ["state"],
)

WEBHOOK_ATTEMPTS = Counter(
    "pgsage_webhook_delivery_attempts",
    "Webhook delivery attempts made by this process, by outcome (DELIVERED, RETRY, FAILED).",
    ["outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "pgsage_webhook_delivery_seconds",
    "Duration of one webhook delivery attempt (the POST and its answer), by outcome.",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)

_COUNT_SQL = "SELECT kind, state, count(*) AS n FROM job GROUP BY kind, state"


class JobCounts:
    """`pgsage_jobs{kind, state}`: `refresh()` (before a scrape) reads the counts,
    `collect()` reports them (nothing when the last refresh failed)."""

    def __init__(self, db: database.Database) -> None:
        self._db = db
        self._counts: list[tuple[str, str, int]] | None = None

    async def refresh(self) -> None:
        try:
            async with self._db.connection() as conn:
                rows = await conn.fetch(_COUNT_SQL)
        except BaseException:  # the store is down, or the scrape's time ran out
            self._counts = None
            raise
        self._counts = [(r["kind"], r["state"], int(r["n"])) for r in rows]

    def collect(self) -> Iterable[Metric]:
        counts = self._counts
        if counts is None:
            return
        family = GaugeMetricFamily(
            "pgsage_jobs", "Jobs in the job store, by kind and state.", labels=["kind", "state"]
        )
        for kind, state, n in counts:
            family.add_metric([kind, state], n)
        yield family


class RunTimer:
    """Times one run of a job; `outcome` is set as the run ends (ERROR unless it is)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.outcome = "ERROR"
        self._start = time.perf_counter()

    def done(self) -> None:
        RUN_SECONDS.labels(self.kind, self.outcome).observe(time.perf_counter() - self._start)
