"""Authentication with an identity provider configured: every RPC but health and reflection
needs a valid bearer token, and every forged, stale or misdirected token is refused."""

from __future__ import annotations

import asyncio
import base64
import getpass
import hashlib
import hmac
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from job_service import app
from pgsage import rpc
from pgsage.jobs.v1 import access_pb2, job_service_pb2, job_service_pb2_grpc
from tests.support.issuer import Issuer, bearer

SERVICE = job_service_pb2.DESCRIPTOR.services_by_name["JobService"]
ADMINS = ["dba"]


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


@pytest.fixture(scope="module")
async def secured(module_db, settings_for, issuer) -> AsyncIterator[app.RunningService]:
    settings = settings_for(
        module_db,
        oidc_issuer=issuer.url,
        oidc_audience=issuer.audience,
        role_bindings=[
            {"group": "dba", "role": "ADMIN"},
            {"group": "reviewers", "role": "REVIEWER"},
        ],
    )
    running = await app.start(settings)
    yield running
    await running.stop(0.5)


@pytest.fixture(scope="module")
async def secured_channel(secured) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(secured.address) as channel:
        yield channel


@pytest.fixture(scope="module")
def secured_stub(secured_channel) -> job_service_pb2_grpc.JobServiceStub:
    return job_service_pb2_grpc.JobServiceStub(secured_channel)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _forge(header: dict, claims: dict, sign=lambda signing_input: b"") -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


async def test_every_rpc_but_health_and_reflection_needs_credentials(secured_channel):
    assert len(SERVICE.methods) >= 20
    for method in SERVICE.methods:
        path = f"/{SERVICE.full_name}/{method.name}"
        if method.server_streaming:
            call = secured_channel.unary_stream(path)(b"", timeout=10)

            async def drain(call=call):
                async for _ in call:
                    pass

            awaited = drain()
        else:
            awaited = secured_channel.unary_unary(path)(b"", timeout=10)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await awaited
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, method.name
        assert rpc.reason_of(caught.value) == "CREDENTIALS_MISSING", method.name
        assert "authorization: Bearer" in caught.value.details()


async def test_health_and_reflection_need_no_credentials(secured_channel):
    health = await health_pb2_grpc.HealthStub(secured_channel).Check(
        health_pb2.HealthCheckRequest(service=SERVICE.full_name), timeout=10
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    stream = reflection_pb2_grpc.ServerReflectionStub(secured_channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10
    )
    async for response in stream:
        names = {s.name for s in response.list_services_response.service}
        assert SERVICE.full_name in names
        break


def _bad_tokens(issuer: Issuer) -> dict[str, tuple[str, str]]:
    """name → (token, expected reason)."""
    now = issuer.claims()["iat"]
    good = issuer.token("mallory", groups=ADMINS)
    head, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "root"
    tampered = f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"
    public_pem = issuer.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs256 = _forge(
        {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"},
        issuer.claims("mallory", groups=ADMINS),
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )
    other_key = jwt.encode(
        issuer.claims("mallory", groups=ADMINS),
        issuer.ec_key,
        algorithm="ES256",
        headers={"kid": "rsa-1"},  # an EC signature under the RSA key's id
    )
    return {
        "expired": (issuer.token(exp=now - 3600, iat=now - 7200, nbf=now - 7200), "TOKEN_EXPIRED"),
        "not yet valid": (issuer.token(nbf=now + 3600), "TOKEN_NOT_YET_VALID"),
        "wrong audience": (issuer.token(aud="another-service"), "TOKEN_INVALID"),
        "wrong issuer": (issuer.token(iss="https://evil.example.com"), "TOKEN_INVALID"),
        "alg none": (
            _forge({"alg": "none", "typ": "JWT"}, issuer.claims("mallory", groups=ADMINS)),
            "TOKEN_INVALID",
        ),
        "tampered payload": (tampered, "TOKEN_INVALID"),
        "HS256 with the public key": (hs256, "TOKEN_INVALID"),
        "key of another algorithm": (other_key, "TOKEN_INVALID"),
        "unknown kid": (issuer.token(kid="not-a-key"), "TOKEN_INVALID"),
        "no expiry": (issuer.token(exp=None), "TOKEN_INVALID"),
        "garbage": ("not-a-token", "TOKEN_INVALID"),
        "unknown API token": ("pgs_" + "x" * 43, "TOKEN_INVALID"),
    }


async def test_forged_stale_and_misdirected_tokens_are_refused(secured_stub, issuer):
    for name, (token, reason) in _bad_tokens(issuer).items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await secured_stub.ListJobs(
                job_service_pb2.ListJobsRequest(), metadata=bearer(token), timeout=10
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
        assert rpc.reason_of(caught.value) == reason, (name, caught.value.details())
        status = rpc.status_of(caught.value)
        assert token not in status.SerializeToString().decode(errors="replace"), name


async def test_a_malformed_authorization_header_is_refused(secured_stub, issuer):
    token = issuer.token(groups=ADMINS)
    for value in (f"Basic {token}", "Bearer", token, f"Bearer {'a' * 5000}"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await secured_stub.ListJobs(
                job_service_pb2.ListJobsRequest(), metadata=(("authorization", value),)
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, value[:20]


async def test_valid_tokens_of_either_key_are_accepted_and_name_the_caller(secured_stub, issuer):
    for alg in ("RS256", "ES256"):
        caller = await secured_stub.GetCaller(
            access_pb2.GetCallerRequest(),
            metadata=bearer(issuer.token("alice", alg=alg, groups="dba reviewers")),
        )
        assert (caller.subject, caller.display_name) == ("alice", "Alice")
        assert caller.auth_method == access_pb2.AuthMethod.OIDC
        assert not caller.local_mode
        roles = {(b.role, b.targets) for b in caller.role_bindings}
        assert roles == {(access_pb2.ADMIN, "*"), (access_pb2.REVIEWER, "*")}


async def test_clocks_may_disagree_by_the_configured_skew(secured_stub, issuer):
    now = issuer.claims()["iat"]
    # 60 s of skew by default: a token that expired 20 s ago, or becomes valid in 20 s, passes.
    for claims in ({"exp": now - 20, "iat": now - 300}, {"nbf": now + 20, "iat": now + 20}):
        await secured_stub.CountJobs(
            job_service_pb2.CountJobsRequest(),
            metadata=bearer(issuer.token(groups=ADMINS, **claims)),
        )


async def test_a_token_accepted_once_is_refused_once_it_expires(secured_stub, issuer):
    """Verified tokens are remembered, but never past their expiry (plus the skew)."""
    now = issuer.claims()["iat"]
    token = issuer.token(groups=ADMINS, exp=now - 58, iat=now - 300)  # 2 s of skew left
    request = job_service_pb2.CountJobsRequest()
    await secured_stub.CountJobs(request, metadata=bearer(token))
    await secured_stub.CountJobs(request, metadata=bearer(token))
    await asyncio.sleep(3)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await secured_stub.CountJobs(request, metadata=bearer(token))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert rpc.reason_of(refused.value) == "TOKEN_EXPIRED"


async def test_the_keys_are_fetched_once_for_many_calls(secured_stub, issuer):
    await secured_stub.ListJobs(
        job_service_pb2.ListJobsRequest(), metadata=issuer.bearer(groups=ADMINS)
    )
    fetched = issuer.jwks_fetches
    assert fetched >= 1
    for i in range(30):
        await secured_stub.CountJobs(
            job_service_pb2.CountJobsRequest(),
            metadata=bearer(
                issuer.token(f"user-{i}", alg="ES256" if i % 2 else "RS256", groups=ADMINS)
            ),
        )
    assert issuer.jwks_fetches == fetched
    # Unknown key ids fetch the keys again at most once (rotation), never once per call.
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError):
            await secured_stub.CountJobs(
                job_service_pb2.CountJobsRequest(), metadata=bearer(issuer.token(kid="rotated"))
            )
    assert issuer.jwks_fetches <= fetched + 1


async def test_the_actor_header_is_ignored_and_the_verified_name_is_audited(
    secured_stub, issuer, seed
):
    dba = issuer.bearer("dana", groups=ADMINS, name="Dana Admin")
    job = await secured_stub.CreateJob(
        job_service_pb2.CreateJobRequest(job={"target": "demo"}),
        metadata=(*dba, ("x-pgsage-actor", "pgsage")),
    )
    assert job.creator == "Dana Admin"
    s = await seed(job.name)
    name = f"{job.name}/suggestions/{s.id}"
    rita = issuer.bearer("rita", groups=["reviewers"], name=None, email="rita@example.com")
    await secured_stub.ApproveSuggestion(
        job_service_pb2.ApproveSuggestionRequest(name=name),
        metadata=(*rita, ("x-pgsage-actor", "mallory")),
    )
    trail = await secured_stub.ListAuditRecords(
        job_service_pb2.ListAuditRecordsRequest(filter=f'resource = "{name}"'), metadata=dba
    )
    [record] = trail.audit_records
    assert record.actor == "rita@example.com" and record.authenticated


async def test_a_jwt_is_refused_in_local_mode(stub, issuer):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListJobs(job_service_pb2.ListJobsRequest(), metadata=issuer.bearer())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "no identity provider is configured" in caught.value.details()
    # Without credentials, local mode's caller is the OS user with every role.
    caller = await stub.GetCaller(access_pb2.GetCallerRequest())
    assert caller.local_mode and caller.display_name == getpass.getuser()
    assert caller.auth_method == access_pb2.AuthMethod.LOCAL


async def test_an_unreachable_identity_provider_is_unavailable_not_a_crash(
    module_db, settings_for, issuer
):
    gone = Issuer()
    url = gone.url
    gone.close()  # nothing listens there any more
    running = await app.start(settings_for(module_db, oidc_issuer=url, oidc_audience="pgsage-test"))
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            for _ in range(2):
                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.ListJobs(
                        job_service_pb2.ListJobsRequest(), metadata=issuer.bearer(), timeout=20
                    )
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
                assert rpc.reason_of(caught.value) == "IDENTITY_PROVIDER_UNAVAILABLE"
    finally:
        await running.stop(0.5)


def test_a_bad_role_binding_stops_start_up_with_one_line(module_db):
    env = {
        **os.environ,
        "PGSAGE_JOBS_DATABASE_URL": module_db,
        "PGSAGE_JOBS_GRPC_HOST": "127.0.0.1",
        "PGSAGE_JOBS_GRPC_PORT": "0",
        "PGSAGE_JOBS_ROLE_BINDINGS": '[{"group": "dba", "role": "SUPERUSER"}]',
    }
    done = subprocess.run(
        [sys.executable, "-m", "job_service"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    [line] = [ln for ln in done.stderr.splitlines() if "ERROR" in ln]
    assert "role_bindings[0]: role 'SUPERUSER' is not one of VIEWER" in line
    assert "Traceback" not in done.stderr
