"""The test OpenID provider (tests/oidc/provider.mjs, `oidc-provider` from npm) as a subprocess,
and a job service stand-in that records the metadata each call brings; gateway settings for
signing in with it, and its login form posted without a browser.

The provider's dev interactions take any login and password; the account id is the login and
its groups derive from it ("rita-reviewer" → ["reviewers"]). `recording_job_service` serves the
real generated JobService interface on port 0: GetCaller answers who the bearer token says
(UNAUTHENTICATED without one, as the job service will), GetJob and WatchJob answer one job.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import jwt

from pgsage import errors, rpc
from pgsage.jobs.v1 import access_pb2, job_pb2, job_service_pb2, job_service_pb2_grpc

OIDC_DIR = Path(__file__).resolve().parents[1] / "oidc"
CLIENT_ID = "pgsage-gateway"
CLIENT_SECRET = "test-client-secret-not-for-production"
SESSION_SECRET = "a-session-secret-of-forty-characters-xx"


@dataclass
class Provider:
    issuer: str
    process: asyncio.subprocess.Process


@asynccontextmanager
async def oidc_provider(
    redirect_uri: str, *, client_secret: str = CLIENT_SECRET, id_token_ttl: int = 3600
) -> AsyncIterator[Provider]:
    """Starts the provider on a free port for a gateway whose callback is `redirect_uri`."""
    assert (OIDC_DIR / "node_modules" / "oidc-provider").is_dir(), (
        "tests/oidc is not installed: run scripts/setup-test.sh (npm ci in tests/oidc)"
    )
    base = redirect_uri.removesuffix("/auth/callback")
    process = await asyncio.create_subprocess_exec(
        "node",
        str(OIDC_DIR / "provider.mjs"),
        env={
            **os.environ,
            "OIDC_REDIRECT_URIS": redirect_uri,
            "OIDC_POST_LOGOUT_URIS": f"{base}/",
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": client_secret,
            "OIDC_ID_TOKEN_TTL": str(id_token_ttl),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = (await process.stdout.readline()).decode().strip()
        assert line.startswith("issuer="), f"the provider did not start: {line!r}"
        yield Provider(issuer=line.removeprefix("issuer="), process=process)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


@dataclass
class Recorder(job_service_pb2_grpc.JobServiceServicer):
    """Records the `authorization` (and any `x-pgsage-actor`) metadata of every call."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def _record(self, method: str, context: grpc.aio.ServicerContext) -> dict[str, str]:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        self.calls.append((method, metadata))
        return metadata

    async def GetCaller(self, request, context):
        metadata = self._record("GetCaller", context)
        header = metadata.get("authorization", "")
        if not header.startswith("Bearer "):
            raise Unauthenticated("no credentials: sign in or present a token")
        claims = jwt.decode(header.removeprefix("Bearer "), options={"verify_signature": False})
        return access_pb2.Caller(
            subject=claims.get("sub", ""),
            display_name=claims.get("name", ""),
            auth_method=access_pb2.OIDC,
        )

    async def GetJob(self, request, context):
        self._record("GetJob", context)
        return job_pb2.Job(name=request.name, state=job_pb2.Job.RUNNING, revision=1)

    async def WatchJob(self, request, context):
        self._record("WatchJob", context)
        job = job_pb2.Job(name=request.name, state=job_pb2.Job.RUNNING, revision=1)
        yield job_service_pb2.WatchJobResponse(job=job, revision=1, event_type="created")
        await asyncio.sleep(3600)


class Unauthenticated(errors.PgsageError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


@dataclass
class RecordingService:
    address: str
    recorder: Recorder


@asynccontextmanager
async def recording_job_service() -> AsyncIterator[RecordingService]:
    server = grpc.aio.server(interceptors=[rpc.ErrorInterceptor()])
    recorder = Recorder()
    job_service_pb2_grpc.add_JobServiceServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield RecordingService(f"127.0.0.1:{port}", recorder)
    finally:
        await server.stop(0.5)


def oidc_settings(issuer: str, base: str, secret: str = SESSION_SECRET) -> dict:
    """Gateway settings signing people in with the test provider at `issuer`."""
    return {
        "oidc_issuer": issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "public_url": base,
        "session_secret": secret,
    }


async def sign_in_without_a_browser(http: httpx.AsyncClient, login: str) -> None:
    """The provider's login form, posted by httpx (the Chromium test drives the same page)."""
    page = await http.get("/auth/login", follow_redirects=True)
    assert page.status_code == 200 and 'name="login"' in page.text
    action = page.text.split('action="', 1)[1].split('"', 1)[0]
    form = {"prompt": "login", "login": login, "password": "x"}
    done = await http.post(str(page.url.join(action)), data=form, follow_redirects=True)
    assert done.status_code == 200 and str(done.url).startswith(str(http.base_url))


def error_of(response: httpx.Response) -> tuple[int, str, str, dict]:
    """(HTTP status, gRPC status name, ErrorInfo reason, ErrorInfo metadata) of a sign-in
    error (the ErrorInfo must be there; `stack.error_of` checks the whole body too)."""
    error = response.json()["error"]
    info = next(d for d in error["details"] if d["@type"].endswith("ErrorInfo"))
    return response.status_code, error["status"], info["reason"], info.get("metadata", {})
