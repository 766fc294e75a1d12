"""Liveness and readiness, in the `application/health+json` shape (draft-inadarei-api-health-check).

`/healthz` answers while the process lives, with the version and the uptime in seconds.
`/readyz` is ready only when the job service reports SERVING over `grpc.health.v1`; the
reasons come from its GetDiagnostics call. An optimizer that is down is a warning (reads
still work), not a reason to take the gateway out.
"""

from __future__ import annotations

import time

import grpc
from grpc_health.v1 import health_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.client import JobServiceClient
from gateway.settings import GatewaySettings
from pgsage.jobs.v1 import job_service_pb2
from pgsage.version import version

JOB_SERVICE = "pgsage.jobs.v1.JobService"
MEDIA_TYPE = "application/health+json"
_PROBE_TIMEOUT = 3.0
_STARTED = time.monotonic()  # this module loads as the gateway process starts
_VERSION = version()

Dependency = job_service_pb2.Dependency
_STATUS = {Dependency.OK: "pass", Dependency.DEGRADED: "warn", Dependency.DOWN: "fail"}
# Dependencies whose outage leaves the job service able to serve reads.
_SOFT = {"optimizer"}


def _response(body: dict, ready: bool) -> JSONResponse:
    return JSONResponse(body, status_code=200 if ready else 503, media_type=MEDIA_TYPE)


async def healthz(request: Request) -> JSONResponse:
    """Alive, with the version running and for how long (whole seconds)."""
    uptime = int(time.monotonic() - _STARTED)
    body = {"status": "pass", "version": _VERSION, "uptime_seconds": uptime}
    return JSONResponse(body, media_type=MEDIA_TYPE)


async def _diagnostics(client: JobServiceClient, deadline: float) -> list | None:
    try:
        answer = await client.jobs.GetDiagnostics(
            job_service_pb2.GetDiagnosticsRequest(), timeout=deadline
        )
    except grpc.RpcError:
        return None
    return list(answer.dependencies)


async def readyz(request: Request) -> JSONResponse:
    client: JobServiceClient = request.app.state.client
    settings: GatewaySettings = request.app.state.settings
    timeout = min(settings.call_timeout, _PROBE_TIMEOUT)
    try:
        health = await client.health.Check(
            health_pb2.HealthCheckRequest(service=JOB_SERVICE), timeout=timeout
        )
    except grpc.RpcError as exc:
        output = f"job service unreachable: {exc.details() or exc.code().name}"
        check = {"status": "fail", "componentType": "system", "output": output}
        failed = {"status": "fail", "output": output, "checks": {"jobService": [check]}}
        return _response(failed, False)
    serving = health.status == health_pb2.HealthCheckResponse.SERVING
    checks: dict[str, list[dict]] = {
        "jobService": [
            {
                "status": "pass" if serving else "fail",
                "componentType": "system",
                "observedValue": health_pb2.HealthCheckResponse.ServingStatus.Name(health.status),
            }
        ]
    }
    notes: list[str] = []
    down: list[str] = []
    for dep in await _diagnostics(client, timeout) or []:
        status = _STATUS.get(dep.status, "warn")
        if status == "fail" and dep.name in _SOFT:
            status = "warn"
        entry = {"status": status, "componentType": "component", "output": dep.message}
        if dep.HasField("check_time"):
            entry["time"] = dep.check_time.ToJsonString()
        checks[dep.name] = [entry]
        if status != "pass":
            line = f"{dep.name}: {dep.message}" if dep.message else f"{dep.name} is down"
            (down if status == "fail" else notes).append(line)
    if not serving:
        output = "; ".join(down) or "job service reports NOT_SERVING"
        return _response({"status": "fail", "output": output, "checks": checks}, False)
    body: dict = {"status": "warn" if notes else "pass", "checks": checks}
    if notes:
        body["output"] = "; ".join(notes)
        body["notes"] = notes
    return _response(body, True)
