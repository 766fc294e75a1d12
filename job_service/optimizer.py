"""The job service's client of the optimizer: ListTargets, and its reachability for health.

The optimizer is optional until analyses run: without `PGSAGE_JOBS_OPTIMIZER_ADDRESS` every
call is UNAVAILABLE (`OPTIMIZER_UNAVAILABLE`) saying so. Every call has a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from job_service import domain, errors, optimizer_mappers
from job_service.checks import Check
from pgsage import tls as pgsage_tls
from pgsage import tracing
from pgsage.jobs.v1 import job_service_pb2, suggestion_pb2
from pgsage.optimizer.v1 import advice_pb2, optimizer_service_pb2, optimizer_service_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = "pgsage.optimizer.v1.OptimizerService"
# The metadata naming the job a call works for: the optimizer logs every statement it runs
# on a target with it.
JOB_METADATA = "x-pgsage-job"


def job_metadata(job_id: object) -> tuple[tuple[str, str], ...]:
    """The call metadata that tells the optimizer which job a call belongs to."""
    return ((JOB_METADATA, str(job_id)),)


class OptimizerClient:
    """A channel to the optimizer (or none, when no address is configured)."""

    def __init__(
        self, address: str | None, *, timeout: float, tls: pgsage_tls.ClientTls | None = None
    ) -> None:
        self.address = address or None
        self.timeout = timeout
        # Short reconnect backoff: an optimizer that comes back is used again within ~2 s.
        options = [
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.min_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        self._channel: grpc.aio.Channel | None = None
        if self.address and tls is not None:
            # TLS, and mutual TLS when a client certificate is configured: the optimizer
            # serves only the identities in its allow-list.
            self._channel = grpc.aio.secure_channel(
                self.address,
                tls.credentials(),
                options=[*options, *tls.options()],
                interceptors=tracing.client_interceptors(),  # the trace goes along
            )
        elif self.address:
            self._channel = grpc.aio.insecure_channel(
                self.address, options=options, interceptors=tracing.client_interceptors()
            )

    def _stub(self) -> optimizer_service_pb2_grpc.OptimizerServiceStub:
        if self._channel is None:
            raise errors.OptimizerUnavailable(
                "no optimizer is configured (set PGSAGE_JOBS_OPTIMIZER_ADDRESS to its host:port)"
            )
        return optimizer_service_pb2_grpc.OptimizerServiceStub(self._channel)

    def _unavailable(self, exc: grpc.aio.AioRpcError) -> errors.OptimizerUnavailable:
        return errors.OptimizerUnavailable(
            f"{exc.code().name} from the optimizer at {self.address}: {(exc.details() or '')[:200]}"
        )

    def stub(self) -> optimizer_service_pb2_grpc.OptimizerServiceStub:
        """The optimizer's stub (UNAVAILABLE when none is configured)."""
        return self._stub()

    async def ready(self, within: float) -> bool:
        """Whether the optimizer can be reached: True once connected, False as soon as a
        connection attempt fails (or after `within` seconds)."""
        if self._channel is None:
            return False
        channel = self._channel
        state = channel.get_state(try_to_connect=True)
        try:
            async with asyncio.timeout(within):
                while state != grpc.ChannelConnectivity.READY:
                    if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
                        return False
                    await channel.wait_for_state_change(state)
                    state = channel.get_state(try_to_connect=True)
        except TimeoutError:
            return False
        return True

    async def validate_edit(self, current: domain.Suggestion, sql: str) -> None:
        """Checks an edited statement against the suggestion's target (ValidateStatement):
        same kind, same table, existing columns and index. Without a configured optimizer
        the local checks stand alone; a configured one that cannot be reached is
        UNAVAILABLE (an edit is never accepted unchecked when a check is possible)."""
        if self._channel is None:
            return
        details = suggestion_pb2.Suggestion.FromString(current.details or b"")
        request = optimizer_service_pb2.ValidateStatementRequest(
            target=current.target,
            sql=sql,
            expected_kind=optimizer_mappers.ADVICE_KIND_BY_NAME.get(
                current.kind, advice_pb2.ADVICE_KIND_UNSPECIFIED
            ),
            expected_table=details.tables[0] if len(details.tables) == 1 else "",
        )
        try:
            await self._stub().ValidateStatement(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise errors.InvalidStatement(
                    f"the target {current.target!r} refuses it: {exc.details()}"
                ) from None
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise errors.InvalidStatement(
                    f"the target {current.target!r} has no such object: {exc.details()}"
                ) from None
            raise self._unavailable(exc) from None

    async def list_targets(self) -> list[job_service_pb2.Target]:
        stub = self._stub()
        try:
            response = await stub.ListTargets(
                optimizer_service_pb2.ListTargetsRequest(), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise self._unavailable(exc) from None
        return [optimizer_mappers.target_from_optimizer(t) for t in response.targets]

    async def check(self) -> Check:
        """Asks the optimizer's own health service whether it is serving."""
        now = datetime.now(UTC)
        started = time.monotonic()
        if self._channel is None:
            return Check(False, "not configured (set PGSAGE_JOBS_OPTIMIZER_ADDRESS)", now, 0.0)
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            response = await stub.Check(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            message = self._unavailable(exc).message
            return Check(False, message, now, time.monotonic() - started)
        latency = time.monotonic() - started
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            return Check(False, f"the optimizer at {self.address} reports {status}", now, latency)
        return Check(True, f"serving at {self.address}", now, latency)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
