"""ListTargets and GetDiagnostics, against a real gRPC optimizer stand-in on port 0, and the
optimizer's own health name (which never makes the job store look down)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from job_service import app, optimizer
from pgsage import health, rpc, server
from pgsage.embedded import free_port
from pgsage.jobs.v1 import job_service_pb2, job_service_pb2_grpc
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as opt_grpc


class Targets(opt_grpc.OptimizerServiceServicer):
    """Implements the optimizer's ListTargets (the real interface, canned answers)."""

    async def ListTargets(self, request, context):
        return opt.ListTargetsResponse(
            targets=[
                opt.Target(
                    name="demo",
                    apply_allowed=True,
                    what_if_engine=opt.WHAT_IF_ENGINE_HYPOPG,
                    reachable=True,
                    server_version="15.4",
                    pg_stat_statements=True,
                    hypopg_version="1.3.1",
                    sandbox="demo-sandbox",
                ),
                opt.Target(
                    name="prod",
                    what_if_engine=opt.WHAT_IF_ENGINE_NONE,
                    unreachable_reason="connection refused",
                ),
            ]
        )


async def health_of(address: str, name: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        response = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=name), timeout=5
        )
    return response.status


async def test_without_an_optimizer(stub, service, expect_error):
    meta = await expect_error(
        stub.ListTargets(job_service_pb2.ListTargetsRequest()),
        grpc.StatusCode.UNAVAILABLE,
        "OPTIMIZER_UNAVAILABLE",
    )
    assert meta["dependency"] == "optimizer"
    diagnostics = await stub.GetDiagnostics(job_service_pb2.GetDiagnosticsRequest())
    by_name = {d.name: d for d in diagnostics.dependencies}
    assert by_name["database"].status == job_service_pb2.Dependency.OK
    assert by_name["optimizer"].status == job_service_pb2.Dependency.DOWN
    assert "not configured" in by_name["optimizer"].message
    assert await health_of(service.address, optimizer.SERVICE_NAME) == health.NOT_SERVING
    assert await health_of(service.address, "") == health.SERVING
    assert await health_of(service.address, app.SERVICE_NAME) == health.SERVING


async def test_with_an_unreachable_then_a_reachable_optimizer(
    module_db, settings_for, expect_error, eventually
):
    port = free_port()
    running = await app.start(settings_for(module_db, optimizer_address=f"127.0.0.1:{port}"))
    fake = None
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            await expect_error(
                stub.ListTargets(job_service_pb2.ListTargetsRequest()),
                grpc.StatusCode.UNAVAILABLE,
                "OPTIMIZER_UNAVAILABLE",
            )
            diagnostics = await stub.GetDiagnostics(job_service_pb2.GetDiagnosticsRequest())
            down = {d.name: d for d in diagnostics.dependencies}["optimizer"]
            assert down.status == job_service_pb2.Dependency.DOWN
            assert f"127.0.0.1:{port}" in down.message

            fake = server.build_server(
                host="127.0.0.1",
                port=port,
                service_names=[optimizer.SERVICE_NAME],
                registrars=[
                    lambda s: opt_grpc.add_OptimizerServiceServicer_to_server(Targets(), s)
                ],
            )
            await fake.start()
            await fake.health.set(optimizer.SERVICE_NAME, health.SERVING)
            answers = []

            async def answered() -> bool:
                try:
                    answers.append(await stub.ListTargets(job_service_pb2.ListTargetsRequest()))
                except grpc.aio.AioRpcError as exc:
                    assert rpc.reason_of(exc) == "OPTIMIZER_UNAVAILABLE"
                    return False
                return True

            # The job service's channel reconnects on its own once the optimizer is up.
            await eventually(answered)
            targets = answers[-1].targets
            assert [t.name for t in targets] == ["demo", "prod"]
            demo, prod = targets
            assert demo.what_if_engine == "hypopg" and demo.apply_allowed and demo.reachable
            assert demo.hypopg_version == "1.3.1" and demo.sandbox == "demo-sandbox"
            assert prod.what_if_engine == "none" and not prod.reachable
            assert prod.unreachable_reason == "connection refused"
            diagnostics = await stub.GetDiagnostics(job_service_pb2.GetDiagnosticsRequest())
            up = {d.name: d for d in diagnostics.dependencies}["optimizer"]
            assert up.status == job_service_pb2.Dependency.OK
            await running.optimizer_monitor.check_once()  # rather than wait for its next round
            assert await health_of(running.address, optimizer.SERVICE_NAME) == health.SERVING
    finally:
        if fake is not None:
            await fake.stop(0)
        await running.stop(0)
