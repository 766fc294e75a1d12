"""`grpc.health.v1` for pgsage's servers: the stock asyncio servicer plus `List`.

The stock Python servicer leaves `List` unimplemented; Kubernetes and grpcurl users expect
it, so it answers here with every registered service name and its status.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health_pb2

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
ServingStatus = health_pb2.HealthCheckResponse.ServingStatus


class HealthServicer(health_async.HealthServicer):
    """Health with Check, Watch and List; statuses are set by the service's own checks."""

    def __init__(self, services: list[str]) -> None:
        super().__init__()
        # Until the service's own checks say otherwise, nothing is serving.
        for name in ["", *services]:
            self._server_status[name] = NOT_SERVING

    async def List(
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthListResponse:
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name, status in self._server_status.items()
            }
        )

    def status(self, service: str = "") -> int:
        """The status currently reported for `service`."""
        return self._server_status.get(service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)

    @property
    def shutting_down(self) -> bool:
        return self._gracefully_shutting_down
