"""Sign-in and sign-out: `GET /auth/login?next=/jobs/...` (to the issuer), `GET /auth/callback`
(back from it), `POST /auth/logout`, `GET /auth/session`.

A sign-in's state, nonce and PKCE verifier travel in a short-lived sealed cookie (path /auth);
the callback checks them, exchanges the code, checks the ID token (gateway.oidc) and sets the
session cookie (gateway.sessions); gateway.identity opens it on later requests. Every failure
is a clear 400 (503 when the issuer is down): a page for a browser, AIP-193 JSON otherwise.
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from gateway import errors as gateway_errors
from gateway import sessions
from gateway.identity import Auth, session_of, set_session
from gateway.oidc import LoginFailed, pkce_pair
from pgsage import errors

log = logging.getLogger(__name__)

LOGIN_URL = "/auth/login"
LOGOUT_URL = "/auth/logout"
_LOGIN_TTL = 600


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
        cookies = set_session(auth.sealer, session, dict(request.cookies), auth.settings)
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
