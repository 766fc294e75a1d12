"""The gateway's one channel to the job service, opened and closed with the app."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc

from pgsage import tls as pgsage_tls
from pgsage import tracing
from pgsage.jobs.v1 import job_service_pb2_grpc, schedule_pb2_grpc, webhook_pb2_grpc


@dataclass
class JobServiceClient:
    """A channel with the stubs of the job service's services (jobs, webhooks, schedules)
    and Health on it."""

    channel: grpc.aio.Channel
    jobs: job_service_pb2_grpc.JobServiceStub
    health: health_pb2_grpc.HealthStub
    webhooks: webhook_pb2_grpc.WebhookServiceStub
    schedules: schedule_pb2_grpc.ScheduleServiceStub

    def stub_for(self, service: str) -> object:
        """The stub serving the service of this full name (the REST routes' dispatch)."""
        return {
            "pgsage.jobs.v1.WebhookService": self.webhooks,
            "pgsage.jobs.v1.ScheduleService": self.schedules,
        }.get(service, self.jobs)

    @classmethod
    def open(cls, address: str, tls: pgsage_tls.ClientTls | None = None) -> JobServiceClient:
        options: list[tuple[str, object]] = [
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_permit_without_calls", 1),
            # Fail fast while the job service is down, instead of backing off for minutes.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2_000),
        ]
        if tls is not None:
            channel = grpc.aio.secure_channel(
                address,
                tls.credentials(),
                options=[*options, *tls.options()],
                interceptors=tracing.client_interceptors(),  # the trace goes along
            )
        else:
            channel = grpc.aio.insecure_channel(
                address, options=options, interceptors=tracing.client_interceptors()
            )
        return cls(
            channel=channel,
            jobs=job_service_pb2_grpc.JobServiceStub(channel),
            health=health_pb2_grpc.HealthStub(channel),
            webhooks=webhook_pb2_grpc.WebhookServiceStub(channel),
            schedules=schedule_pb2_grpc.ScheduleServiceStub(channel),
        )

    async def close(self) -> None:
        await self.channel.close()
