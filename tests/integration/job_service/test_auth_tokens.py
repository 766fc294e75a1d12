"""pgsage API tokens: created by admins, shown once, stored as a hash, expiring, revocable on
every replica at once (two job services on one database)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from job_service import app
from pgsage import errors, rpc
from pgsage.jobs.v1 import access_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support.issuer import Issuer, bearer


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


@pytest.fixture(scope="module")
async def replicas(module_db, settings_for, issuer) -> AsyncIterator[list]:
    """Two job services on one database; B trusts a verified token for an hour unless told."""
    stubs, services, channels = [], [], []
    for cache in (timedelta(seconds=10), timedelta(hours=1)):
        settings = settings_for(
            module_db,
            oidc_issuer=issuer.url,
            oidc_audience=issuer.audience,
            role_bindings=[{"group": "dba", "role": "ADMIN"}],
            api_token_cache=cache,
        )
        running = await app.start(settings)
        services.append(running)
        channel = grpc.aio.insecure_channel(running.address)
        channels.append(channel)
        stubs.append(job_service_pb2_grpc.JobServiceStub(channel))
    yield stubs
    for channel in channels:
        await channel.close()
    for running in services:
        await running.stop(0.5)


@pytest.fixture(scope="module")
def admin(issuer):
    return issuer.bearer("dana", groups=["dba"], name="Dana")


def _in(delta: timedelta) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + delta)
    return stamp


def _request(display_name="nightly-report", role=access_pb2.VIEWER, targets="*", **fields):
    token = {
        "display_name": display_name,
        "role_bindings": [{"role": role, "targets": targets}],
        "expire_time": _in(timedelta(days=30)),
        **fields,
    }
    return access_pb2.CreateApiTokenRequest(api_token=token)


async def _refused(call) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    reason, metadata = errors.from_status(rpc.status_of(caught.value))
    return caught.value.code(), reason, metadata


async def test_a_token_is_shown_once_stored_as_a_hash_and_works(replicas, admin, db):
    a, b = replicas
    created = await a.CreateApiToken(_request(targets="staging-*"), metadata=admin)
    secret = created.secret
    assert secret.startswith("pgs_") and len(secret) >= 40
    token = created.api_token
    assert token.name.startswith("apiTokens/") and token.creator == "Dana"
    assert token.display_name == "nightly-report" and not token.HasField("revoke_time")
    async with db.connection() as conn:
        rows = [dict(r) for r in await conn.fetch("SELECT * FROM api_token")]
    stored = "".join(str(v) for row in rows for v in row.values())
    assert secret not in stored and secret[4:] not in stored
    assert hashlib.sha256(secret.encode()).digest() in {r["secret_sha256"] for r in rows}

    caller = await b.GetCaller(access_pb2.GetCallerRequest(), metadata=bearer(secret))
    assert (caller.subject, caller.display_name) == (token.name, "nightly-report")
    assert caller.auth_method == access_pb2.API_TOKEN
    assert [(r.role, r.targets) for r in caller.role_bindings] == [(access_pb2.VIEWER, "staging-*")]
    # The token acts with its own roles: a viewer creates nothing.
    code, _, meta = await _refused(
        b.CreateJob(
            job_service_pb2.CreateJobRequest(job={"target": "staging-1"}), metadata=bearer(secret)
        )
    )
    assert (code, meta["permission"]) == (grpc.StatusCode.PERMISSION_DENIED, "jobs.create.analyze")

    listed = await a.ListApiTokens(access_pb2.ListApiTokensRequest(), metadata=admin)
    [mine] = [t for t in listed.api_tokens if t.name == token.name]
    assert mine.HasField("last_use_time")
    assert secret not in str(listed)


async def test_a_token_revoked_on_one_replica_is_refused_on_the_other(replicas, admin, eventually):
    a, b = replicas
    secret = (await a.CreateApiToken(_request("ci"), metadata=admin)).secret
    name = (await b.GetCaller(access_pb2.GetCallerRequest(), metadata=bearer(secret))).subject
    # B now trusts it from its cache (for an hour, unless told otherwise).
    await b.ListJobs(job_service_pb2.ListJobsRequest(), metadata=bearer(secret))
    revoked = await a.RevokeApiToken(access_pb2.RevokeApiTokenRequest(name=name), metadata=admin)
    assert revoked.HasField("revoke_time")
    again = await a.RevokeApiToken(access_pb2.RevokeApiTokenRequest(name=name), metadata=admin)
    assert again.revoke_time == revoked.revoke_time  # idempotent

    code, reason, _ = await _refused(
        a.ListJobs(job_service_pb2.ListJobsRequest(), metadata=bearer(secret))
    )
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")

    async def refused_on_b() -> bool:
        try:
            await b.ListJobs(job_service_pb2.ListJobsRequest(), metadata=bearer(secret))
        except grpc.aio.AioRpcError as exc:
            assert rpc.reason_of(exc) == "TOKEN_REVOKED"
            return True
        return False

    await eventually(refused_on_b)


async def test_an_expired_token_is_refused(replicas, admin, db):
    a, _ = replicas
    created = await a.CreateApiToken(_request("old"), metadata=admin)
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE api_token SET expire_time = now() - interval '1 second' WHERE id = $1::uuid",
            created.api_token.name.split("/")[1],
        )
    code, reason, _ = await _refused(
        a.ListJobs(job_service_pb2.ListJobsRequest(), metadata=bearer(created.secret))
    )
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_EXPIRED")
    active = await a.ListApiTokens(access_pb2.ListApiTokensRequest(), metadata=admin)
    assert created.api_token.name not in {t.name for t in active.api_tokens}
    every = await a.ListApiTokens(
        access_pb2.ListApiTokensRequest(show_inactive=True, page_size=1000), metadata=admin
    )
    assert created.api_token.name in {t.name for t in every.api_tokens}


async def test_bad_token_requests_are_refused_naming_the_field(replicas, admin):
    a, _ = replicas
    cases = {
        "api_token.display_name": _request(display_name=" "),
        "api_token.display_name ": _request(display_name="x" * 101),
        "api_token.display_name  ": _request(display_name="bad\nname"),
        "api_token.role_bindings": access_pb2.CreateApiTokenRequest(
            api_token={"display_name": "x", "expire_time": _in(timedelta(days=1))}
        ),
        "api_token.role_bindings[0].role": _request(role=access_pb2.ROLE_UNSPECIFIED),
        "api_token.expire_time": access_pb2.CreateApiTokenRequest(
            api_token={"display_name": "x", "role_bindings": [{"role": access_pb2.VIEWER}]}
        ),
        "api_token.expire_time ": _request(expire_time=_in(-timedelta(minutes=1))),
        "api_token.expire_time  ": _request(expire_time=_in(timedelta(days=400))),
    }
    for field, request in cases.items():
        code, _, meta = await _refused(a.CreateApiToken(request, metadata=admin))
        assert (code, meta["field"]) == (grpc.StatusCode.INVALID_ARGUMENT, field.strip()), field
    code, reason, _ = await _refused(
        a.RevokeApiToken(
            access_pb2.RevokeApiTokenRequest(name="apiTokens/00000000-0000-0000-0000-000000000000"),
            metadata=admin,
        )
    )
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "API_TOKEN_NOT_FOUND")


async def test_only_admins_manage_tokens(replicas, admin, issuer):
    a, _ = replicas
    viewer = await a.CreateApiToken(_request("reader"), metadata=admin)
    for who in (bearer(viewer.secret), issuer.bearer("eve", groups=["nothing"])):
        for call, permission in (
            (a.CreateApiToken(_request("mine"), metadata=who), "apiTokens.create"),
            (a.ListApiTokens(access_pb2.ListApiTokensRequest(), metadata=who), "apiTokens.list"),
            (
                a.RevokeApiToken(
                    access_pb2.RevokeApiTokenRequest(name=viewer.api_token.name), metadata=who
                ),
                "apiTokens.revoke",
            ),
        ):
            code, _, meta = await _refused(call)
            assert code == grpc.StatusCode.PERMISSION_DENIED
            assert meta["permission"] in (permission, "read")


async def test_tokens_are_listed_page_by_page(replicas, admin):
    a, _ = replicas
    for i in range(3):
        await a.CreateApiToken(_request(f"paged-{i}"), metadata=admin)
    seen: list[str] = []
    token = ""
    while True:
        page = await a.ListApiTokens(
            access_pb2.ListApiTokensRequest(page_size=2, page_token=token), metadata=admin
        )
        assert len(page.api_tokens) <= 2
        seen.extend(t.name for t in page.api_tokens)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 3


async def test_a_token_works_in_local_mode(stub):
    created = await stub.CreateApiToken(_request("local-try", role=access_pb2.OPERATOR))
    caller = await stub.GetCaller(access_pb2.GetCallerRequest(), metadata=bearer(created.secret))
    assert caller.auth_method == access_pb2.API_TOKEN and caller.local_mode
    job = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(job={"target": "demo"}), metadata=bearer(created.secret)
    )
    assert job.creator == "local-try"
    await stub.RevokeApiToken(access_pb2.RevokeApiTokenRequest(name=created.api_token.name))
    code, reason, _ = await _refused(
        stub.GetCaller(access_pb2.GetCallerRequest(), metadata=bearer(created.secret))
    )
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "TOKEN_REVOKED")
