"""Who a request is, for the job service: the session cookie opened (and refreshed) on every
request, and the gRPC metadata forwarded with every call the request makes.

`SessionMiddleware` leaves in the request's state the session and the metadata
(`call_metadata`):
- a request's own `Authorization` header (a script with an API token or a JWT) as is;
- else the signed-in person's ID token, `authorization: Bearer <id token>`. Its audience is the
  gateway's client id, so the job service is configured with that audience (the Kubernetes
  API server's OIDC model: one client, the ID token is the credential);
- else nothing: in local mode the job service treats the caller as the local user, otherwise
  it answers UNAUTHENTICATED, which reaches the browser as 401 and the UI offers sign-in.
An ID token within 30 s of its expiry is refreshed with the refresh token (one refresh per
refresh token at a time in a replica); a refused refresh, or an expired token without one,
signs the person out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import sessions
from gateway.oidc import IssuerUnavailable, LoginFailed, OidcClient, Tokens
from gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

REFRESH_MARGIN = 30
# Seconds a refresh's outcome answers requests still carrying the old refresh token.
_RECENT = 60


@dataclass
class Auth:
    """The gateway's identity parts; `oidc` is set by the app's lifespan (None in local mode)."""

    settings: GatewaySettings
    sealer: sessions.Sealer | None = None
    oidc: OidcClient | None = None

    @classmethod
    def of(cls, settings: GatewaySettings) -> Auth:
        secret = settings.session_secret.get_secret_value()
        return cls(settings, sessions.Sealer(secret) if secret else None)


def call_metadata(request: Request) -> tuple[tuple[str, str], ...]:
    """The gRPC metadata to send with this request's calls to the job service."""
    return getattr(request.state, "grpc_metadata", ())


def session_of(request: Request) -> sessions.Session | None:
    return getattr(request.state, "session", None)


class SessionMiddleware:
    """Opens (and refreshes) the session of every HTTP request; see the module docstring."""

    def __init__(self, app: ASGIApp, auth: Auth) -> None:
        self.app = app
        self.auth = auth
        # Refreshes by refresh token: the one in flight, and recent outcomes, so that the
        # requests of one page load share one refresh instead of presenting a token the
        # issuer has already rotated (which some issuers answer by revoking the session).
        self._refreshing: dict[str, asyncio.Future[Tokens | None]] = {}
        self._recent: dict[str, tuple[float, Tokens | None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies: dict[str, str] = {}
        authorization = ""
        for key, value in scope["headers"]:
            if key == b"cookie":
                cookies.update(cookie_parser(value.decode("latin-1")))
            elif key == b"authorization":
                authorization = value.decode("latin-1")
        session, set_cookies = await self._session(cookies)
        state = scope.setdefault("state", {})
        state["session"] = session
        if authorization:
            state["grpc_metadata"] = (("authorization", authorization),)
        elif session is not None:
            state["grpc_metadata"] = (("authorization", f"Bearer {session.id_token}"),)
        else:
            state["grpc_metadata"] = ()
        if not set_cookies:
            await self.app(scope, receive, send)
            return

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"set-cookie", c.encode("latin-1")) for c in set_cookies]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    async def _session(self, cookies: dict[str, str]) -> tuple[sessions.Session | None, list[str]]:
        """The session and the Set-Cookie headers its refresh or removal needs."""
        sealer, settings = self.auth.sealer, self.auth.settings
        if sealer is None or sessions.SESSION_COOKIE not in cookies:
            return None, []
        now = time.time()
        secure = settings.secure_cookies
        session = sessions.read_session(sealer, cookies, now)
        if session is None:  # tampered, forged, sealed by another secret, or over
            return None, sessions.clear_cookie_headers(cookies, secure)
        if session.token_exp - REFRESH_MARGIN > now:
            return session, []
        oidc = self.auth.oidc
        if session.refresh_token and oidc is not None:
            try:
                tokens = await self._refresh(oidc, session)
            except IssuerUnavailable:
                tokens = None
                if session.token_exp > now:
                    return session, []
            if tokens is not None:
                session.id_token = tokens.id_token
                session.token_exp = int(tokens.claims["exp"])
                session.refresh_token = tokens.refresh_token
                try:
                    return session, set_session(sealer, session, cookies, settings)
                except ValueError:
                    log.warning("refreshed tokens too large for the session cookie")
        if session.token_exp > now:
            return session, []
        return None, sessions.clear_cookie_headers(cookies, secure)

    async def _refresh(self, oidc: OidcClient, session: sessions.Session) -> Tokens | None:
        """New tokens for `session` (None: refused), one refresh per refresh token."""
        key = session.refresh_token
        now = time.monotonic()
        for old in [k for k, (at, _) in self._recent.items() if now - at > _RECENT]:
            del self._recent[old]
        if key in self._recent:
            cached = self._recent[key][1]
            # A refusal stands; new tokens serve only while they are not due for refresh.
            if cached is None or int(cached.claims["exp"]) - REFRESH_MARGIN > time.time():
                return cached
        running = self._refreshing.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Tokens | None] = asyncio.get_running_loop().create_future()
        self._refreshing[key] = future
        try:
            tokens = await oidc.refresh(key, session.sub)
        except LoginFailed as exc:
            log.info("session refresh refused: %s", exc.reason)
            tokens = None
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here; waiters get it too
            raise
        finally:
            del self._refreshing[key]
        self._recent[key] = (time.monotonic(), tokens)
        future.set_result(tokens)
        return tokens


def set_session(
    sealer: sessions.Sealer,
    session: sessions.Session,
    cookies: dict[str, str],
    settings: GatewaySettings,
) -> list[str]:
    """Set-Cookie headers writing `session`, and deleting chunks it no longer uses."""
    max_age = int(session.session_exp - time.time())
    secure = settings.secure_cookies
    written = sessions.session_cookies(sealer, session)
    headers = [
        sessions.set_cookie_header(name, value, max_age=max_age, secure=secure)
        for name, value in written
    ]
    used = {name for name, _ in written}
    headers += [
        h for h in sessions.clear_cookie_headers(cookies, secure) if h.split("=")[0] not in used
    ]
    return headers
