"""Signing in with OpenID Connect through a real provider (oidc-provider) and Chromium; what
the session cookie is and is not; the token reaching the job service; sign-out; forged and
tampered cookies; refused callbacks and redirects."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from gateway import sessions
from gateway.sessions import Sealer
from tests.support import stack as pgsage_stack
from tests.support.browser import CHROMIUM, PLAYWRIGHT
from tests.support.oidc import (
    CLIENT_ID,
    SESSION_SECRET,
    error_of,
    oidc_provider,
    oidc_settings,
    recording_job_service,
    sign_in_without_a_browser,
)

FLOW = Path(__file__).with_name("signin_flow.mjs")


@pytest.fixture(scope="module")
async def service():
    async with recording_job_service() as running:
        yield running


@pytest.fixture(scope="module")
async def stack(service):
    port = pgsage_stack.free_port()
    base = f"http://127.0.0.1:{port}"
    async with oidc_provider(f"{base}/auth/callback") as provider:
        settings = oidc_settings(provider.issuer, base)
        async with pgsage_stack.gateway(service.address, http_port=port, **settings) as gateway:
            assert gateway.url == base
            yield provider, gateway


def test_the_browser_parts_are_installed():
    assert PLAYWRIGHT.is_file() and Path(CHROMIUM).is_file()


async def browser_sign_in(base: str, login: str) -> dict:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(FLOW),
        env={
            **os.environ,
            "PGSAGE_URL": base,
            "LOGIN": login,
            "PLAYWRIGHT_CORE": str(PLAYWRIGHT),
            "CHROMIUM": CHROMIUM,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(120):
        output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-4000:]
    line = next(x for x in text.splitlines() if x.startswith("@@result "))
    return json.loads(line.removeprefix("@@result "))


async def test_sign_in_through_the_provider_forwards_the_id_token_and_sign_out_clears_it(
    stack, service
):
    provider, gateway = stack
    service.recorder.calls.clear()
    result = await browser_sign_in(gateway.url, "rita-reviewer")

    assert result["before"]["signedIn"] is False and result["before"]["localMode"] is False
    assert result["before"]["loginUrl"] == "/auth/login"
    assert result["loginPage"].startswith(provider.issuer)
    assert result["landed"] == f"{gateway.url}/jobs/abc?tab=1"
    cookie = next(c for c in result["cookies"] if c["name"] == "pgsage_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http here; https public_url makes it Secure
    assert "pgsage_session" not in result["documentCookie"]
    # No token in the cookie in the clear: it is sealed.
    assert "eyJ" not in cookie["value"]
    assert result["session"]["body"]["signedIn"] is True
    assert result["session"]["body"]["name"] == "Rita"
    assert result["session"]["body"]["expiresAt"].endswith("Z")

    # The job service received the person's ID token, audience = the gateway's client id.
    assert result["caller"]["status"] == 200, result["caller"]
    assert result["caller"]["body"]["subject"] == "rita-reviewer"
    metadata = next(m for method, m in service.recorder.calls if method == "GetCaller")
    assert "x-pgsage-actor" not in metadata
    token = metadata["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims["iss"] == provider.issuer and claims["aud"] == CLIENT_ID
    assert claims["sub"] == "rita-reviewer" and claims["groups"] == ["reviewers"]

    # Signing out clears the cookie; the job service then sees no credentials (401).
    assert result["logout"]["status"] == 200
    assert result["logout"]["body"]["endSessionUrl"].startswith(provider.issuer)
    assert result["after"]["body"]["signedIn"] is False
    assert not [c for c in result["cookiesAfter"] if c["name"].startswith("pgsage_session")]
    assert result["callerAfter"]["status"] == 401
    assert result["callerAfter"]["body"]["error"]["status"] == "UNAUTHENTICATED"

    # The cookie as it was before sign-out opens on another gateway with the same secret
    # (a restart, a replica), and on no gateway with another secret.
    sealed = {c["name"]: c["value"] for c in result["cookies"] if c["name"].startswith("pgsage_s")}
    async with pgsage_stack.gateway(
        service.address, **oidc_settings(provider.issuer, gateway.url)
    ) as replica:
        async with httpx.AsyncClient(base_url=replica.url, cookies=sealed) as http:
            session = (await http.get("/auth/session")).json()
            assert session["signedIn"] is True and session["name"] == "Rita"
            caller = await http.get("/v1/caller")
            assert caller.status_code == 200 and caller.json()["displayName"] == "Rita"
    other = oidc_settings(
        provider.issuer, gateway.url, secret="another-secret-of-forty-characters-xxxx"
    )
    async with pgsage_stack.gateway(service.address, **other) as stranger:
        async with httpx.AsyncClient(base_url=stranger.url, cookies=sealed) as http:
            response = await http.get("/auth/session")
            assert response.json()["signedIn"] is False
            # ... and the stale cookie is deleted.
            assert any("pgsage_session=;" in h for h in response.headers.get_list("set-cookie"))


async def test_a_tampered_or_forged_cookie_is_signed_out(stack):
    _, gateway = stack
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        login = await http.get("/auth/login")
        sealed_login = login.cookies["pgsage_login"]
    # A sealed cookie of another purpose, one bit flipped, or made up: none is a session.
    flipped = sealed_login[:-5] + ("A" if sealed_login[-5] != "A" else "B") + sealed_login[-4:]
    for value in (sealed_login, flipped, "eyJzdWIiOiJhZG1pbiJ9", "x" * 200):
        async with httpx.AsyncClient(
            base_url=gateway.url, cookies={"pgsage_session": value}
        ) as http:
            session = await http.get("/auth/session")
            assert session.status_code == 200 and session.json()["signedIn"] is False
            caller = await http.get("/v1/caller")
            assert error_of(caller)[:2] == (401, "UNAUTHENTICATED")


async def test_login_redirects_to_the_issuer_with_pkce_state_and_nonce(stack):
    provider, gateway = stack
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.get("/auth/login", params={"next": "/jobs/1"})
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}" == provider.issuer
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"{gateway.url}/auth/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert "openid" in query["scope"].split()
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/auth" in cookie
    assert query["state"] not in cookie and "code_verifier" not in cookie


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/jobs",
        "/\\evil.example",
        "javascript:alert(1)",
        "jobs/1",
        "/jobs/1\r\nSet-Cookie: x=1",
    ],
)
async def test_login_refuses_to_redirect_off_site(stack, target):
    _, gateway = stack
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        response = await http.get("/auth/login", params={"next": target})
    assert response.status_code == 400 and "location" not in response.headers
    assert error_of(response)[2:] == ("UNSAFE_REDIRECT", {"field": "next"})


async def test_bad_callbacks_are_400_never_500(stack):
    _, gateway = stack
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        # No sign-in started in this browser.
        response = await http.get("/auth/callback", params={"code": "x", "state": "y"})
        assert error_of(response)[:3] == (400, "INVALID_ARGUMENT", "LOGIN_STATE_MISSING")
        page = await http.get(
            "/auth/callback", params={"code": "x", "state": "y"}, headers={"Accept": "text/html"}
        )
        assert page.status_code == 400 and "Sign in again" in page.text
        assert page.headers["content-type"].startswith("text/html")

        login = await http.get("/auth/login")
        state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
        wrong = await http.get("/auth/callback", params={"code": "x", "state": "forged"})
        assert error_of(wrong)[2] == "STATE_MISMATCH"
        refused = await http.get(
            "/auth/callback",
            params={"error": "access_denied", "error_description": "<script>", "state": state},
            headers={"Accept": "text/html"},
        )
        assert refused.status_code == 400 and "<script>" not in refused.text
        bad_code = await http.get("/auth/callback", params={"code": "not-a-code", "state": state})
        assert error_of(bad_code)[:3] == (400, "INVALID_ARGUMENT", "TOKEN_REQUEST_REFUSED")


async def test_own_authorization_header_is_forwarded_as_is_and_none_is_401(stack, service):
    _, gateway = stack
    token = jwt.encode({"sub": "a-script", "name": "Script"}, "k" * 32, algorithm="HS256")
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        service.recorder.calls.clear()
        caller = await http.get("/v1/caller", headers={"Authorization": f"Bearer {token}"})
        assert caller.status_code == 200 and caller.json()["subject"] == "a-script"
        assert service.recorder.calls[-1][1]["authorization"] == f"Bearer {token}"

        anonymous = await http.get("/v1/caller")
        assert error_of(anonymous)[:2] == (401, "UNAUTHENTICATED")
        assert "authorization" not in service.recorder.calls[-1][1]


async def test_the_change_stream_carries_the_callers_token(stack, service):
    _, gateway = stack
    service.recorder.calls.clear()
    headers = {"Authorization": "Bearer stream-token"}
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        async with http.stream("GET", "/v1/jobs/abc/events", headers=headers) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    break
    method, metadata = service.recorder.calls[-1]
    assert method == "WatchJob" and metadata["authorization"] == "Bearer stream-token"


async def test_a_browser_post_without_origin_is_refused_but_a_script_with_a_token_is_not(stack):
    _, gateway = stack
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        bare = await http.post("/auth/logout", json={})
        assert error_of(bare)[:3] == (403, "PERMISSION_DENIED", "ORIGIN_REQUIRED")
        script = await http.post("/auth/logout", json={}, headers={"Authorization": "Bearer t"})
        assert script.status_code == 200
        same = await http.post("/auth/logout", json={}, headers={"Origin": gateway.url})
        assert same.status_code == 200


@pytest.fixture(scope="module")
async def short_lived(service):
    """A provider whose ID tokens live 20 s, less than the gateway's refresh margin: every
    request through the gateway refreshes them."""
    port = pgsage_stack.free_port()
    base = f"http://127.0.0.1:{port}"
    async with oidc_provider(f"{base}/auth/callback", id_token_ttl=20) as provider:
        settings = oidc_settings(provider.issuer, base)
        async with pgsage_stack.gateway(service.address, http_port=port, **settings) as gateway:
            yield provider, gateway


async def test_an_expiring_id_token_is_refreshed_and_a_refused_refresh_signs_out(
    short_lived, service
):
    _, gateway = short_lived
    sealer = Sealer(SESSION_SECRET)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as http:
        await sign_in_without_a_browser(http, "otto-operator")
        first = sessions.read_session(sealer, dict(http.cookies), time.time())
        assert first is not None and first.refresh_token and first.name == "Otto"
        await asyncio.sleep(1.1)  # so that the next ID token is issued in another second
        service.recorder.calls.clear()
        caller = await http.get("/v1/caller")
        assert caller.status_code == 200 and caller.json()["subject"] == "otto-operator"
        assert "pgsage_session=" in caller.headers["set-cookie"]
        refreshed = sessions.read_session(sealer, dict(http.cookies), time.time())
        assert refreshed is not None and refreshed.id_token != first.id_token
        forwarded = service.recorder.calls[-1][1]["authorization"]
        assert forwarded == f"Bearer {refreshed.id_token}"
        claims = jwt.decode(refreshed.id_token, options={"verify_signature": False})
        assert claims["groups"] == ["operators"] and claims["aud"] == CLIENT_ID

    # An expired ID token whose refresh the issuer refuses, or with no refresh token: signed out.
    for refresh_token in ("revoked-or-made-up", ""):
        stale = sessions.Session(
            sub="otto-operator",
            name="Otto",
            id_token=first.id_token,
            token_exp=int(time.time()) - 120,
            session_exp=int(time.time()) + 3600,
            refresh_token=refresh_token,
        )
        cookies = dict(sessions.session_cookies(sealer, stale))
        async with httpx.AsyncClient(base_url=gateway.url, cookies=cookies) as http:
            response = await http.get("/auth/session")
            assert response.json()["signedIn"] is False
            assert "pgsage_session=;" in response.headers["set-cookie"]
            caller = await http.get("/v1/caller")
            assert error_of(caller)[:2] == (401, "UNAUTHENTICATED")


async def test_an_unreachable_issuer_is_503_at_sign_in_not_500(service):
    closed = f"http://127.0.0.1:{pgsage_stack.free_port()}"
    port = pgsage_stack.free_port()
    base = f"http://127.0.0.1:{port}"
    settings = oidc_settings(closed, base)
    async with pgsage_stack.gateway(service.address, http_port=port, **settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            response = await http.get("/auth/login")
            assert error_of(response)[:3] == (503, "UNAVAILABLE", "IDENTITY_PROVIDER_UNAVAILABLE")
            page = await http.get("/auth/login", headers={"Accept": "text/html"})
            assert page.status_code == 503 and "Sign-in failed" in page.text
            assert (await http.get("/auth/session")).json()["signedIn"] is False


async def test_a_public_client_signs_in_with_pkce_alone(service):
    port = pgsage_stack.free_port()
    base = f"http://127.0.0.1:{port}"
    async with oidc_provider(f"{base}/auth/callback", client_secret="") as provider:
        settings = {**oidc_settings(provider.issuer, base), "oidc_client_secret": ""}
        async with pgsage_stack.gateway(service.address, http_port=port, **settings) as gateway:
            async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as http:
                await sign_in_without_a_browser(http, "ada-admin")
                session = (await http.get("/auth/session")).json()
                assert session["signedIn"] is True and session["name"] == "Ada"


async def test_behind_https_the_cookies_are_secure_and_only_the_https_origin_may_post(
    stack, service
):
    provider, _ = stack
    port = pgsage_stack.free_port()
    public = f"https://127.0.0.1:{port}"  # TLS ends at a proxy in front of the gateway
    settings = oidc_settings(provider.issuer, public)
    async with pgsage_stack.gateway(service.address, http_port=port, **settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            login = await http.get("/auth/login")
            assert login.status_code == 303
            assert "; Secure" in login.headers["set-cookie"]
            assert login.headers["strict-transport-security"].startswith("max-age=")
            plain = await http.post("/auth/logout", json={}, headers={"Origin": gateway.url})
            assert error_of(plain)[:3] == (403, "PERMISSION_DENIED", "CROSS_ORIGIN_REQUEST")
            https = await http.post("/auth/logout", json={}, headers={"Origin": public})
            assert https.status_code == 200
