"""Webhook signing secrets sealed at rest: the store holds a Fernet token, never the secret;
deliveries are still signed with the secret; a start-up with keys seals secrets kept in clear
and moves old ones to the first key; a store whose keys are gone fails the delivery with a
reason naming the setting (not a crash, not an unsigned POST); a bad key is refused at
start-up without echoing it.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

from job_service import app, database, sealing
from job_service.settings import Settings
from pgsage.jobs.v1 import (
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    webhook_pb2,
    webhook_pb2_grpc,
)
from tests.integration.job_service.test_webhooks import FAST, _deliveries, _end
from tests.support.receiver import receiver

SECRET = "whsec-sealed-7d1c0e9b2a"
OLD, NEW, STRANGER = (Fernet.generate_key().decode() for _ in range(3))
Delivery = webhook_pb2.WebhookDelivery


@contextlib.asynccontextmanager
async def _service(settings_for, url: str, *keys: str) -> AsyncIterator[grpc.aio.Channel]:
    extra = {"webhook_secret_keys": SecretStr(",".join(keys))} if keys else {}
    running = await app.start(settings_for(url, **FAST, **extra))
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            yield channel
    finally:
        await running.stop(0.5)


async def _failed_job(channel: grpc.aio.Channel, db: database.Database) -> str:
    jobs = job_service_pb2_grpc.JobServiceStub(channel)
    job = await jobs.CreateJob(
        job_service_pb2.CreateJobRequest(job=job_pb2.Job(target="sealed")), timeout=10
    )
    await _end(db, job.name, "FAILED", "broken")
    return job.name


async def _stored(db: database.Database, name: str) -> str:
    async with db.connection() as conn:
        return await conn.fetchval(
            "SELECT secret FROM webhook WHERE id = $1", uuid.UUID(name.split("/")[1])
        )


async def test_sealed_at_rest_signed_on_the_wire_resealed_on_rotation(
    module_db, settings_for, db, eventually, caplog
):
    caplog.set_level(logging.DEBUG)
    async with receiver() as rx:
        async with _service(settings_for, module_db, OLD) as channel:
            hooks = webhook_pb2_grpc.WebhookServiceStub(channel)
            hook = await hooks.CreateWebhook(
                webhook_pb2.CreateWebhookRequest(
                    webhook=webhook_pb2.Webhook(
                        display_name="sealed",
                        url=rx.url,
                        event_types=[webhook_pb2.JOB_FAILED],
                        target_filter="sealed",
                        secret=SECRET,
                    )
                )
            )
            stored = await _stored(db, hook.name)
            assert stored.startswith(sealing.PREFIX) and SECRET not in stored
            assert sealing.Sealer([OLD]).open(stored) == SECRET
            job = await _failed_job(channel, db)

            async def delivered() -> bool:
                found = await _deliveries(hooks, hook.name)
                return len(found) == 1 and found[0].state == Delivery.DELIVERED

            await eventually(delivered)
            (post,) = rx.received
            assert post.json["resource"] == job and post.signed_with(SECRET)

        # A secret kept in clear (written before keys were set) and a rotation: NEW first.
        async with db.connection() as conn:
            await conn.execute(
                "UPDATE webhook SET secret = $2 WHERE id = $1",
                uuid.UUID(hook.name.split("/")[1]),
                SECRET,
            )
        async with _service(settings_for, module_db, OLD):
            pass
        assert sealing.Sealer([OLD]).open(await _stored(db, hook.name)) == SECRET
        async with _service(settings_for, module_db, NEW, OLD):
            pass
        # Now under NEW alone: OLD can be dropped.
        assert sealing.Sealer([NEW]).open(await _stored(db, hook.name)) == SECRET

        # Keys that open nothing: the delivery fails at once, saying what to change.
        async with _service(settings_for, module_db, STRANGER) as channel:
            hooks = webhook_pb2_grpc.WebhookServiceStub(channel)
            second = await _failed_job(channel, db)

            async def failed() -> bool:
                found = [d for d in await _deliveries(hooks, hook.name) if d.resource == second]
                return len(found) == 1 and found[0].state == Delivery.FAILED

            await eventually(failed)
            (delivery,) = [d for d in await _deliveries(hooks, hook.name) if d.resource == second]
            assert [a.error for a in delivery.attempts] == [
                "not sent: none of the keys in PGSAGE_JOBS_WEBHOOK_SECRET_KEYS opens the "
                "signing secret (a key was dropped?)"
            ]
        assert len(rx.received) == 1  # nothing unsigned went out
    assert SECRET not in caplog.text


def test_a_key_that_is_not_a_fernet_key_is_refused_without_echoing_it(module_db):
    bad = "not-a-key-but-maybe-a-password"
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate(
            {"database_url": SecretStr(module_db), "webhook_secret_keys": f"{NEW},{bad}"}
        )
    assert "key 2 of PGSAGE_JOBS_WEBHOOK_SECRET_KEYS is not a Fernet key" in str(raised.value)
    assert bad not in str(raised.value) and NEW not in str(raised.value)
