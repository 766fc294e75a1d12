"""The gateway's one channel to the job service, opened and closed with the app."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc

from pgsage.jobs.v1 import job_service_pb2_grpc


@dataclass
class JobServiceClient:
    """A channel with the JobService and Health stubs on it."""

    channel: grpc.aio.Channel
    jobs: job_service_pb2_grpc.JobServiceStub
    health: health_pb2_grpc.HealthStub

    @classmethod
    def open(cls, address: str) -> JobServiceClient:
        channel = grpc.aio.insecure_channel(
            address,
            options=[
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_permit_without_calls", 1),
                # Fail fast while the job service is down, instead of backing off for minutes.
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 2_000),
            ],
        )
        return cls(
            channel=channel,
            jobs=job_service_pb2_grpc.JobServiceStub(channel),
            health=health_pb2_grpc.HealthStub(channel),
        )

    async def close(self) -> None:
        await self.channel.close()
