"""The optimizer's own Prometheus metrics (served by `pgsage.scrape` on
`PGSAGE_OPTIMIZER_METRICS_PORT`, with the RPC metrics of `pgsage.metrics`).

- `pgsage_optimizer_whatif_plans_total{engine, target}`: statements planned under a what-if
  index configuration (`optimizer_service.whatif`), the unit of an analysis's work.
- `pgsage_optimizer_analysis_seconds{target, outcome}`: how long an Analyze took, by how it
  ended (ok, error, cancelled).
- `pgsage_optimizer_target_sessions{target}` and `..._target_sessions_limit{target}`:
  sessions this optimizer holds open on each target (its `max_sessions` budget), read at
  scrape time (`Sessions`); `..._target_sessions_waiting{target}`: work waiting for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from optimizer_service.settings import Settings
from pgsage import logs
from pgsage.metrics import LATENCY_BUCKETS

WHATIF_PLANS = Counter(
    "pgsage_optimizer_whatif_plans",
    "Statements planned under a what-if index configuration, by engine and target.",
    ["engine", "target"],
)
ANALYSIS_SECONDS = Histogram(
    "pgsage_optimizer_analysis_seconds",
    "Duration of one Analyze, by target and outcome (ok, error, cancelled).",
    ["target", "outcome"],
    buckets=LATENCY_BUCKETS,
)


def whatif_plan(engine: str) -> None:
    """Counts one what-if plan on the target of the call being served."""
    WHATIF_PLANS.labels(engine, logs.target.get() or "-").inc()


@contextlib.contextmanager
def analysis(target: str) -> Iterator[None]:
    """Times the block as one analysis of `target`; names the target in the log context."""
    logs.bind(target=target)
    start = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except (asyncio.CancelledError, GeneratorExit):
        outcome = "cancelled"
        raise
    finally:
        ANALYSIS_SECONDS.labels(target, outcome).observe(time.perf_counter() - start)


class Sessions:
    """The target session gauges, read from each target's budget at scrape time."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def collect(self) -> Iterable[Metric]:
        families = {
            "open": GaugeMetricFamily(
                "pgsage_optimizer_target_sessions",
                "Sessions this optimizer holds open on the target (idle kept ones included).",
                labels=["target"],
            ),
            "limit": GaugeMetricFamily(
                "pgsage_optimizer_target_sessions_limit",
                "The target's max_sessions: the most this optimizer holds open on it.",
                labels=["target"],
            ),
            "waiting": GaugeMetricFamily(
                "pgsage_optimizer_target_sessions_waiting",
                "Work waiting for a session on the target.",
                labels=["target"],
            ),
        }
        for target in self._settings.targets:
            budget = target.sessions
            families["open"].add_metric([target.name], budget.open)
            families["limit"].add_metric([target.name], budget.limit)
            families["waiting"].add_metric([target.name], budget.waiting)
        yield from families.values()
