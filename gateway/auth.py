"""Sign-in, sign-out and the session, and what the gateway forwards to the job service.

Routes: `GET /auth/login?next=/jobs/...` (to the issuer), `GET /auth/callback` (back from it),
`POST /auth/logout`, `GET /auth/session`. `SessionMiddleware` opens the session cookie of
every request, refreshes an expired ID token with the refresh token, and leaves in the
request's state the gRPC metadata for the job service (`call_metadata`):

- a request's own `Authorization` header (a script with an API token or a JWT) as is;
- else the signed-in person's ID token, `authorization: Bearer <id token>`. Its audience is the
  gateway's client id, so the job service is configured with that audience (the Kubernetes
  API server's OIDC model: one client, the ID token is the credential);
- else nothing: in local mode the job service treats the caller as the local user, otherwise
  it answers UNAUTHENTICATED, which reaches the browser as 401 and the UI offers sign-in.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import errors as gateway_errors
from gateway import sessions
from gateway.oidc import IssuerUnavailable, LoginFailed, OidcClient, Tokens, pkce_pair
from gateway.settings import GatewaySettings
from pgsage import errors

log = logging.getLogger(__name__)

LOGIN_URL = "/auth/login"
LOGOUT_URL = "/auth/logout"
_LOGIN_TTL = 600
_REFRESH_MARGIN = 30
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
        if session.token_exp - _REFRESH_MARGIN > now:
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
                    return session, _set_session(sealer, session, cookies, settings)
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
            if cached is None or int(cached.claims["exp"]) - _REFRESH_MARGIN > time.time():
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


def _set_session(
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


def safe_next(raw: str | None) -> str:
    """`next` if it is a path on this site; refuses anything that could leave it."""
    value = raw or "/"
    parts = urlsplit(value)
    if (
        not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or parts.scheme
        or parts.netloc
        or any(ord(c) < 0x20 or c == "\x7f" for c in value)
        or len(value) > 2000
    ):
        raise errors.InvalidArgument(
            "next", "next must be a path on this site, such as /jobs/123", reason="UNSAFE_REDIRECT"
        )
    return value


def _auth(request: Request) -> Auth:
    return request.app.state.auth


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _login_error(request: Request, exc: errors.PgsageError) -> Response:
    """A failed sign-in: a page for a browser, the AIP-193 JSON for anything else."""
    response = gateway_errors.response_for(exc)
    if not _wants_html(request):
        return response
    message = html.escape(exc.message)
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Sign-in failed</title>"
        f"<h1>Sign-in failed</h1><p>{message}</p>"
        f'<p><a href="{LOGIN_URL}">Sign in again</a> · <a href="/">pgsage</a></p></html>'
    )
    return Response(page, status_code=response.status_code, media_type="text/html")


async def login(request: Request) -> Response:
    """Starts a sign-in: state, nonce and PKCE verifier sealed in a short-lived cookie."""
    auth = _auth(request)
    try:
        target = safe_next(request.query_params.get("next"))
    except errors.PgsageError as exc:
        return _login_error(request, exc)
    if auth.oidc is None or auth.sealer is None:
        return RedirectResponse(target, status_code=303)  # local mode: nobody signs in
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    try:
        url = await auth.oidc.authorization_url(state, nonce, challenge)
    except errors.PgsageError as exc:
        return _login_error(request, exc)
    sealed = auth.sealer.seal(
        "login",
        {"state": state, "nonce": nonce, "verifier": verifier, "next": target, "t": time.time()},
    )
    response = RedirectResponse(url, status_code=303)
    response.headers.append(
        "set-cookie",
        sessions.set_cookie_header(
            sessions.LOGIN_COOKIE,
            sealed,
            max_age=_LOGIN_TTL,
            secure=auth.settings.secure_cookies,
            path="/auth",
        ),
    )
    return response


def _check_callback(request: Request, auth: Auth) -> dict:
    """The sign-in this callback finishes, after the state and issuer checks."""
    assert auth.sealer is not None
    params = request.query_params
    sealed = request.cookies.get(sessions.LOGIN_COOKIE, "")
    started = auth.sealer.open("login", sealed) if sealed else None
    if started is None or time.time() - float(started.get("t", 0)) > _LOGIN_TTL:
        raise LoginFailed(
            "this sign-in expired or was started in another browser; sign in again",
            reason="LOGIN_STATE_MISSING",
        )
    if not secrets.compare_digest(params.get("state", ""), str(started.get("state", ""))):
        raise LoginFailed(
            "the sign-in's state does not match; sign in again", reason="STATE_MISMATCH"
        )
    issuer = params.get("iss")
    if issuer is not None and issuer.rstrip("/") != auth.settings.oidc_issuer:
        raise LoginFailed("the answer came from another issuer", reason="ISSUER_MISMATCH")
    if "error" in params:
        error = params["error"][:100]
        raise LoginFailed(
            f"the identity provider did not sign you in: {error}",
            reason="LOGIN_REJECTED",
            metadata={"error": error},
        )
    if not params.get("code"):
        raise errors.InvalidArgument("code", "the callback has no code", reason="LOGIN_FAILED")
    return started


async def callback(request: Request) -> Response:
    """Finishes a sign-in: code for tokens (with the PKCE verifier), ID token checked,
    session cookie set, on to `next`. Every failure is a 400 (503 if the issuer is down)."""
    auth = _auth(request)
    if auth.oidc is None or auth.sealer is None:
        return _login_error(
            request, errors.FailedPrecondition("sign-in is not configured (local mode)")
        )
    try:
        started = _check_callback(request, auth)
        tokens = await auth.oidc.exchange_code(
            request.query_params["code"], str(started["verifier"]), str(started["nonce"])
        )
    except errors.PgsageError as exc:
        return _login_error(request, exc)
    claims = tokens.claims
    name = claims.get("name") or claims.get("preferred_username") or claims.get("email")
    session = sessions.Session(
        sub=str(claims["sub"]),
        name=str(name or claims["sub"])[:200],
        id_token=tokens.id_token,
        token_exp=int(claims["exp"]),
        session_exp=int(time.time()) + auth.settings.session_max_age,
        refresh_token=tokens.refresh_token,
    )
    log.info("signed in: %s", session.sub[:200])
    try:
        cookies = _set_session(auth.sealer, session, dict(request.cookies), auth.settings)
    except ValueError:
        too_large = LoginFailed(
            "the identity provider's tokens are too large for a session cookie",
            reason="SESSION_TOO_LARGE",
        )
        return _login_error(request, too_large)
    response = RedirectResponse(str(started.get("next") or "/"), status_code=303)
    for header in cookies:
        response.headers.append("set-cookie", header)
    response.headers.append(
        "set-cookie",
        sessions.set_cookie_header(
            sessions.LOGIN_COOKIE, "", max_age=0, secure=auth.settings.secure_cookies, path="/auth"
        ),
    )
    return response


async def logout(request: Request) -> Response:
    """Clears the session (JSON POST, same origin: see gateway.defences). `endSessionUrl`,
    when the issuer advertises RP-initiated logout, ends the session there too."""
    auth = _auth(request)
    end_session = None
    if auth.oidc is not None:
        try:
            end_session = await auth.oidc.end_session_url()
        except errors.PgsageError:
            end_session = None
    response = JSONResponse({"signedIn": False, "endSessionUrl": end_session})
    for header in sessions.clear_cookie_headers(request.cookies, auth.settings.secure_cookies):
        response.headers.append("set-cookie", header)
    return response


async def session_info(request: Request) -> JSONResponse:
    """Who is signed in, for the UI's header (roles come from GET /v1/caller)."""
    auth = _auth(request)
    session = session_of(request)
    expires = (
        datetime.fromtimestamp(session.session_exp, UTC).isoformat().replace("+00:00", "Z")
        if session
        else None
    )
    return JSONResponse(
        {
            "signedIn": session is not None,
            "localMode": auth.settings.local_mode,
            "loginUrl": LOGIN_URL,
            "logoutUrl": LOGOUT_URL,
            "name": session.name if session else None,
            "subject": session.sub if session else None,
            "expiresAt": expires,
        },
        headers={"Cache-Control": "no-store"},
    )
