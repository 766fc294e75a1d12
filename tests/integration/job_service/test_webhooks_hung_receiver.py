"""A webhook receiver that hangs holds up no job: with the dispatcher and a real optimizer,
jobs run and fail while the receiver keeps the first event's POST open (the only job
service on this module's store, so its sender is the one holding the POST)."""

from __future__ import annotations

from datetime import timedelta

import grpc

from job_service import app
from pgsage.jobs.v1 import (
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    webhook_pb2,
    webhook_pb2_grpc,
)
from tests.support import stack
from tests.support.receiver import receiver

FAST = {
    "webhook_retry_backoff": timedelta(milliseconds=50),
    "webhook_poll_interval": timedelta(milliseconds=50),
}


async def _deliveries(hooks, name: str) -> list[webhook_pb2.WebhookDelivery]:
    answer = await hooks.ListWebhookDeliveries(
        webhook_pb2.ListWebhookDeliveriesRequest(parent=name, page_size=1000)
    )
    return list(answer.deliveries)


async def test_a_hung_receiver_holds_up_no_job(module_db, settings_for, eventually):
    """With the dispatcher and a real optimizer, jobs fail (unknown target) and finish while
    the receiver holds the first event's POST open; then it is delivered."""
    async with stack.optimizer([]) as optimizer, receiver() as rx:
        rx.script = ["hang"]
        settings = settings_for(
            module_db,
            **FAST,
            webhook_timeout=timedelta(seconds=60),
            optimizer_address=optimizer.address,
            max_concurrent_jobs=2,
        )
        running = await app.start(settings)
        try:
            async with grpc.aio.insecure_channel(running.address) as channel:
                hooks = webhook_pb2_grpc.WebhookServiceStub(channel)
                stub = job_service_pb2_grpc.JobServiceStub(channel)
                hook = await hooks.CreateWebhook(
                    webhook_pb2.CreateWebhookRequest(
                        webhook=webhook_pb2.Webhook(
                            display_name="slow",
                            url=rx.url,
                            event_types=[webhook_pb2.JOB_FAILED],
                            target_filter="nowhere-*",
                        )
                    )
                )
                try:

                    async def failed(name: str) -> bool:
                        job = await stub.GetJob(job_service_pb2.GetJobRequest(name=name))
                        return job.state == job_pb2.Job.FAILED

                    first = await stub.CreateJob(
                        job_service_pb2.CreateJobRequest(job=job_pb2.Job(target="nowhere-1"))
                    )
                    await eventually(lambda: failed(first.name))

                    async def holding() -> bool:
                        return rx.held == 1

                    await eventually(holding)
                    second = await stub.CreateJob(
                        job_service_pb2.CreateJobRequest(job=job_pb2.Job(target="nowhere-2"))
                    )
                    await eventually(lambda: failed(second.name))
                    assert rx.held == 1  # the first POST is still open: the job did not wait
                    rx.release()

                    async def both() -> bool:
                        found = await _deliveries(hooks, hook.name)
                        return len(found) == 2 and all(d.state == 2 for d in found)

                    await eventually(both)
                finally:
                    await hooks.DeleteWebhook(webhook_pb2.DeleteWebhookRequest(name=hook.name))
        finally:
            await running.stop(0.5)
