"""What each target can do and whether it is reachable: ListTargets and GetDiagnostics.

Checks run concurrently, each within the connect timeout; reasons are scrubbed and never
carry a DSN or password.
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


async def probe(target: TargetConfig, connect_timeout: float) -> Probe:
    """Connects to `target` once and reads its capabilities."""
    started = time.monotonic()
    try:
        async with targets.session(target, connect_timeout=connect_timeout) as conn:
            caps = await asyncio.wait_for(targets.capabilities(conn), timeout=connect_timeout)
        reason = ""
    except errors.TargetUnavailable as exc:
        caps, reason = None, exc.metadata.get("cause", "unreachable")
    except Exception as exc:
        caps, reason = None, targets.cause_of(target, exc)
    return Probe(target, caps, reason, time.monotonic() - started, datetime.now(UTC))


async def probe_all(settings: Settings) -> list[Probe]:
    return list(
        await asyncio.gather(
            *(probe(t, settings.connect_timeout_seconds) for t in settings.targets)
        )
    )


def engine_of(p: Probe) -> pb.WhatIfEngine:
    if p.target.what_if_engine == "hypopg" and p.caps is not None and not p.caps.hypopg_version:
        return pb.WHAT_IF_ENGINE_NONE
    return _ENGINES[p.target.what_if_engine]


async def list_targets(settings: Settings) -> list[pb.Target]:
    result = []
    for p in await probe_all(settings):
        result.append(
            pb.Target(
                name=p.target.name,
                apply_allowed=p.target.apply_allowed,
                what_if_engine=engine_of(p),
                reachable=p.caps is not None,
                unreachable_reason=p.reason,
                server_version=p.caps.server_version if p.caps else "",
                pg_stat_statements=bool(p.caps and p.caps.pg_stat_statements),
                hypopg_version=p.caps.hypopg_version if p.caps else "",
                sandbox=p.target.sandbox or "",
            )
        )
    return result


async def dependencies(settings: Settings) -> list[pb.Dependency]:
    result = []
    for p in await probe_all(settings):
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
