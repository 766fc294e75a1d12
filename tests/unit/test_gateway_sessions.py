"""The session cookie's sealing and chunking, the `next` check and the Host parsing."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway import auth, identity, sessions
from gateway.oidc import Tokens
from gateway.settings import GatewaySettings, host_name
from pgsage import errors

NOW = time.time()


def _session(id_token: str = "header.payload.signature") -> sessions.Session:
    return sessions.Session(
        sub="ada-admin",
        name="Ada",
        id_token=id_token,
        token_exp=int(NOW) + 300,
        session_exp=int(NOW) + 3600,
        refresh_token="refresh",
    )


def test_a_large_session_is_split_into_chunks_that_read_back_whole():
    sealer = sessions.Sealer("s" * 40)
    big = _session("x" * 9000)  # an ID token with many groups
    cookies = sessions.session_cookies(sealer, big)
    assert len(cookies) == 4  # 9 KB sealed and base64-encoded, in chunks of 3800
    assert [name for name, _ in cookies] == [
        "pgsage_session",
        "pgsage_session_1",
        "pgsage_session_2",
        "pgsage_session_3",
    ]
    assert all(len(value) <= sessions.CHUNK for _, value in cookies)
    assert sessions.read_session(sealer, dict(cookies), NOW) == big
    # A chunk missing or swapped: not a session.
    assert sessions.read_session(sealer, dict(cookies[:2]), NOW) is None
    swapped = {cookies[0][0]: cookies[1][1], cookies[1][0]: cookies[0][1], **dict(cookies[2:])}
    assert sessions.read_session(sealer, swapped, NOW) is None


def test_a_session_opens_only_with_the_same_secret_for_the_same_purpose_before_it_ends():
    sealer = sessions.Sealer("s" * 40)
    cookies = dict(sessions.session_cookies(sealer, _session()))
    assert sessions.read_session(sessions.Sealer("s" * 40), cookies, NOW) == _session()
    assert sessions.read_session(sessions.Sealer("t" * 40), cookies, NOW) is None
    assert sessions.read_session(sealer, cookies, NOW + 3601) is None
    login = sealer.seal("login", {"state": "x"})
    assert sessions.read_session(sealer, {"pgsage_session": login}, NOW) is None
    assert sealer.open("login", login) == {"state": "x"}
    for junk in ("", "=", "!!!", "AAAA", "x" * 5000):
        assert sealer.open("session", junk) is None


def test_too_large_a_session_is_refused_not_truncated():
    sealer = sessions.Sealer("s" * 40)
    with pytest.raises(ValueError):
        sessions.session_cookies(sealer, _session("x" * 40_000))


@pytest.mark.parametrize("good", ["/", "/jobs/1", "/jobs/1?tab=x#y", "/a/b%2Fc"])
def test_next_may_be_any_path_on_this_site(good):
    assert auth.safe_next(good) == good


@pytest.mark.parametrize(
    "bad",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "jobs",
        "/jobs\n",
        "/" + "a" * 3000,
    ],
)
def test_next_may_not_leave_the_site(bad):
    with pytest.raises(errors.InvalidArgument):
        auth.safe_next(bad)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("127.0.0.1:8080", "127.0.0.1"),
        ("localhost", "localhost"),
        ("[::1]:8080", "::1"),
        ("pgsage.example.com:443", "pgsage.example.com"),
        ("", ""),
    ],
)
def test_the_host_name_of_a_host_header(header, name):
    assert host_name(header) == name


def test_allowed_hosts_are_names_without_ports():
    settings = GatewaySettings(allowed_hosts="pgsage.example.com:443, [::1]")
    assert settings.host_allow_list() == {"pgsage.example.com", "::1"}
    public = GatewaySettings(public_url="https://pgsage.example.com")
    assert "pgsage.example.com" in public.host_allow_list()


class _CountingIssuer:
    """A stand-in for OidcClient.refresh that counts calls (rotating refresh tokens)."""

    def __init__(self) -> None:
        self.calls = 0

    async def refresh(self, refresh_token: str, subject: str) -> Tokens:
        self.calls += 1
        await asyncio.sleep(0.05)
        return Tokens(f"id-token-{self.calls}", {"exp": NOW + 600}, f"rotated-{self.calls}")


async def test_concurrent_requests_share_one_refresh_and_late_ones_reuse_it():
    middleware = identity.SessionMiddleware(app=None, auth=identity.Auth.of(GatewaySettings()))
    issuer = _CountingIssuer()
    session = _session()
    results = await asyncio.gather(*(middleware._refresh(issuer, session) for _ in range(10)))
    assert issuer.calls == 1
    assert {r.id_token for r in results} == {"id-token-1"}
    # A request still carrying the old (now rotated) refresh token gets the same outcome.
    late = await middleware._refresh(issuer, session)
    assert issuer.calls == 1 and late.refresh_token == "rotated-1"


@pytest.mark.parametrize(
    ("public_url", "origin"),
    [
        ("https://pgsage.example.com", "https://pgsage.example.com"),
        ("https://PGSAGE.example.com:443/", "https://pgsage.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("https://pgsage.example.com:8443/base", "https://pgsage.example.com:8443"),
    ],
)
def test_the_origin_browsers_send_for_a_public_url(public_url, origin):
    assert GatewaySettings(public_url=public_url).public_origin == origin
