"""What each target can do and whether it is reachable: ListTargets and GetDiagnostics.

Checks run concurrently, each within its own short budget (`target_check_seconds`), so a
slow or hostile target (one that accepts a connection and never speaks) hurts only its own
entry: it is reported unreachable, "not answering since <when>", with what the last good
check learnt about it (`Checker` remembers), and every other target is listed as usual.
Reasons are scrubbed and never carry a DSN or password.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2

from optimizer_service import errors, targets
from optimizer_service.settings import Settings, TargetConfig
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb

_ENGINES: dict[str, pb.WhatIfEngine] = {
    "hypopg": pb.WHAT_IF_ENGINE_HYPOPG,
    "transactional": pb.WHAT_IF_ENGINE_TRANSACTIONAL,
}


@dataclass(frozen=True)
class Probe:
    target: TargetConfig
    caps: targets.Capabilities | None
    reason: str
    seconds: float
    checked: datetime


async def _check(target: TargetConfig, connect_timeout: float) -> targets.Capabilities:
    # A probe takes no place in the target's session budget: a busy target must not look
    # unreachable, and the probe is one short session bounded by its own budget.
    async with targets.session(target, connect_timeout=connect_timeout, place="extra") as conn:
        return await targets.capabilities(conn)


async def probe(target: TargetConfig, budget: float) -> Probe:
    """Connects to `target` once and reads its capabilities, within `budget` seconds."""
    started = time.monotonic()
    try:
        caps = await asyncio.wait_for(_check(target, budget), timeout=budget)
        reason = ""
    except TimeoutError:
        caps, reason = None, f"no answer within {budget:g} s"
    except errors.TargetUnavailable as exc:
        caps, reason = None, exc.metadata.get("cause", "unreachable")
    except Exception as exc:
        caps, reason = None, targets.cause_of(target, exc)
    return Probe(target, caps, reason, time.monotonic() - started, datetime.now(UTC))


@dataclass
class Known:
    """What earlier checks of one target learnt: its last capabilities, and since when it
    has not answered (None while it answers)."""

    caps: targets.Capabilities | None = None
    failing_since: datetime | None = None


class Checker:
    """Checks every target in parallel, each within its budget, and remembers the last
    good answer of each (owned by the servicer, so it lives as long as the server)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.known: dict[str, Known] = {}

    async def probe_all(self) -> list[Probe]:
        budget = min(self.settings.target_check_seconds, self.settings.connect_timeout_seconds)
        probes = await asyncio.gather(*(probe(t, budget) for t in self.settings.targets))
        return [self._remember(p) for p in probes]

    def _remember(self, p: Probe) -> Probe:
        known = self.known.setdefault(p.target.name, Known())
        if p.caps is not None:
            known.caps, known.failing_since = p.caps, None
            return p
        known.failing_since = known.failing_since or p.checked
        since = known.failing_since.strftime("%Y-%m-%dT%H:%M:%SZ")
        return Probe(
            p.target, None, f"not answering since {since}: {p.reason}", p.seconds, p.checked
        )

    def last_known(self, name: str) -> targets.Capabilities | None:
        known = self.known.get(name)
        return known.caps if known else None


def engine_of(p: Probe) -> pb.WhatIfEngine:
    if p.target.what_if_engine == "hypopg" and p.caps is not None and not p.caps.hypopg_version:
        return pb.WHAT_IF_ENGINE_NONE
    return _ENGINES[p.target.what_if_engine]


def _duration(ms: int) -> duration_pb2.Duration:
    value = duration_pb2.Duration()
    value.FromMilliseconds(ms)
    return value


async def list_targets(checker: Checker) -> list[pb.Target]:
    result = []
    for p in await checker.probe_all():
        caps = p.caps or checker.last_known(p.target.name)  # what is known, when it is not
        result.append(
            pb.Target(
                name=p.target.name,
                apply_allowed=p.target.apply_allowed,
                what_if_engine=engine_of(Probe(p.target, caps, p.reason, p.seconds, p.checked)),
                reachable=p.caps is not None,
                unreachable_reason=p.reason,
                server_version=caps.server_version if caps else "",
                pg_stat_statements=bool(caps and caps.pg_stat_statements),
                hypopg_version=caps.hypopg_version if caps else "",
                sandbox=p.target.sandbox or "",
                build_timeout=_duration(p.target.build_timeout_ms),
                lock_timeout=_duration(p.target.lock_timeout_ms),
                verification_window=_duration(round(p.target.verification_window_seconds * 1000)),
                on_regression=(
                    pb.ON_REGRESSION_ROLLBACK
                    if p.target.on_regression == "rollback"
                    else pb.ON_REGRESSION_NOTIFY
                ),
            )
        )
    return result


async def dependencies(checker: Checker) -> list[pb.Dependency]:
    result = []
    for p in await checker.probe_all():
        checked = timestamp_pb2.Timestamp()
        checked.FromDatetime(p.checked)
        latency = duration_pb2.Duration()
        latency.FromTimedelta(timedelta(seconds=p.seconds))
        if p.caps is None:
            status, message = pb.Dependency.DOWN, f"unreachable: {p.reason}"
        else:
            problems = []
            if not p.caps.pg_stat_statements:
                problems.append("pg_stat_statements is not installed (give workloads in requests)")
            if p.target.what_if_engine == "hypopg" and not p.caps.hypopg_version:
                problems.append(
                    "HypoPG is not installed: no what-if engine, index analysis skipped"
                )
            status = pb.Dependency.DEGRADED if problems else pb.Dependency.OK
            if p.target.what_if_engine == "transactional":
                engine = "transactional (always rolled back)"
            elif p.caps.hypopg_version:
                engine = f"hypopg {p.caps.hypopg_version}"
            else:
                engine = "unusable"
            message = (
                f"PostgreSQL {p.caps.server_version}; pg_stat_statements "
                f"{'present' if p.caps.pg_stat_statements else 'missing'}; "
                f"what-if engine {engine}"
            )
            if problems:
                message += "; " + "; ".join(problems)
        result.append(
            pb.Dependency(
                name=f"target:{p.target.name}",
                status=status,
                message=message,
                check_time=checked,
                latency=latency,
            )
        )
    return result
