"""`pgsage webhooks ...` against a real job service: create with a secret from stdin (never
printed), list, test (a PING reaches the receiver, signed), deliveries, delete."""

from __future__ import annotations

import asyncio
import json

from tests.support.receiver import receiver

SECRET = "cli-secret-0123456789abcdef"


async def test_webhooks_from_the_command_line(pgsage):
    async with receiver() as rx:
        created = await pgsage(
            "webhooks", "create", "--name", "dba chat", "--url", rx.url,
            "--event", "job-failed", "--event", "REGRESSION", "--format", "slack",
            "--target", "prod-*", "--secret-stdin",
            stdin=SECRET + "\n",
        )  # fmt: skip
        assert created.code == 0, created.err
        name = created.out.split(":")[0]
        assert name.startswith("webhooks/") and "signed" in created.out

        listed = await pgsage("webhooks", "list")
        assert listed.code == 0 and name in listed.out and "job_failed,regression" in listed.out
        assert "prod-*" in listed.out and "slack" in listed.out
        as_json = json.loads((await pgsage("webhooks", "list", "--json")).out)
        assert [h["hasSecret"] for h in as_json if h["name"] == name] == [True]

        tested = await pgsage("webhooks", "test", name)
        assert tested.code == 0, tested.err
        for _ in range(100):
            if rx.received:
                break
            await asyncio.sleep(0.1)
        assert rx.received[0].signed_with(SECRET)

        for _ in range(100):
            shown = await pgsage("webhooks", "deliveries", name, "--state", "delivered")
            if "ping" in shown.out:
                break
            await asyncio.sleep(0.1)
        assert shown.code == 0 and "ping" in shown.out and "delivered" in shown.out

        bad = await pgsage(
            "webhooks", "create", "--name", "x", "--url", "ftp://x", "--event", "job-failed"
        )
        assert bad.code == 2 and "webhook.url" in bad.err  # INVALID_ARGUMENT: usage
        unknown = await pgsage(
            "webhooks", "create", "--name", "x", "--url", rx.url, "--event", "nope"
        )
        assert unknown.code == 2

        deleted = await pgsage("webhooks", "delete", name)
        assert deleted.code == 0 and "deleted" in deleted.out
        again = await pgsage("webhooks", "delete", name)
        assert again.code == 1 and "does not exist" in again.err
        for result in (created, listed, tested, shown, deleted):
            assert SECRET not in result.out + result.err
