"""Authentication: who is calling, from `authorization: Bearer <token>` metadata.

`AuthInterceptor` authenticates every RPC but health and reflection before its handler runs
(so before any lookup) and binds the principal for `authz.principal_of`. A bearer token is
either a pgsage API token (`pgs_...`, looked up by its SHA-256) or a JWT of the configured
issuer (`job_service.oidc`). Without an issuer (local mode) a call without credentials is the
local OS user with every role; an API token is still verified (so tokens can be tried
locally), a JWT is refused. Refusals are UNAUTHENTICATED and never echo the token.

Verified API tokens are cached for `api_token_cache` at most; a revocation reaches every
replica's cache through LISTEN/NOTIFY (`notifications.Listener.on_token_revoked`), and while
the listening connection is down nothing is cached.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from job_service import authz, database, errors, notifications, oidc, tokens
from job_service.principals import AuthMethod, Principal
from job_service.settings import Settings

PUBLIC_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")
MAX_TOKEN = 4096
TOUCH_INTERVAL = 60.0
MAX_CACHED = 10_000


@dataclass
class _Cached:
    token: tokens.ApiToken
    principal: Principal
    cached_at: float
    touched_at: float


class TokenVerifier:
    """Verifies pgsage API tokens against the store, with a short, revocable cache."""

    def __init__(
        self, db: database.Database, listener: notifications.Listener, ttl: timedelta
    ) -> None:
        self._db = db
        self._listener = listener
        self._ttl = ttl.total_seconds()
        self._cache: dict[bytes, _Cached] = {}
        self._generation = 0
        listener.on_token_revoked(self._revoked)

    def _revoked(self, token_id: str | None) -> None:
        self._generation += 1
        if token_id is None:
            self._cache.clear()
            return
        for key in [k for k, v in self._cache.items() if str(v.token.id) == token_id]:
            del self._cache[key]

    async def verify(self, secret: str) -> Principal:
        key = tokens.digest(secret)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is None or now - hit.cached_at >= self._ttl or not self._listener.connected:
            hit = await self._lookup(secret, key, now)
        token = hit.token
        if token.revoke_time is not None:
            raise errors.BadCredentials("TOKEN_REVOKED", "this API token was revoked")
        if token.expire_time <= datetime.now(UTC):
            raise errors.BadCredentials("TOKEN_EXPIRED", "this API token has expired")
        if now - hit.touched_at >= TOUCH_INTERVAL:
            hit.touched_at = now
            async with self._db.connection() as conn:
                await tokens.touch(conn, token.id)
        return hit.principal

    async def _lookup(self, secret: str, key: bytes, now: float) -> _Cached:
        generation = self._generation
        async with self._db.connection() as conn:
            token = await tokens.find(conn, secret)
        if token is None:
            raise errors.BadCredentials("TOKEN_INVALID", "no such API token")
        principal = Principal(
            subject=token.subject,
            display_name=token.display_name,
            method=AuthMethod.API_TOKEN,
            bindings=token.role_bindings,
        )
        entry = _Cached(token, principal, now, now - TOUCH_INTERVAL)
        previous = self._cache.get(key)
        if previous is not None:
            entry.touched_at = previous.touched_at
        # Cached only if no revocation arrived during the lookup (it may concern this one).
        if self._listener.connected and generation == self._generation:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[key] = entry
        return entry


class Authenticator:
    """Turns a call's metadata into its `Principal` (or an UNAUTHENTICATED error)."""

    def __init__(self, token_verifier: TokenVerifier, jwt_verifier: oidc.JwtVerifier | None):
        self._tokens = token_verifier
        self._jwt = jwt_verifier
        self._local = authz.local_principal() if jwt_verifier is None else None

    @property
    def local_mode(self) -> bool:
        return self._jwt is None

    async def authenticate(self, metadata: Any) -> Principal:
        bearer = _bearer(metadata)
        if bearer is None:
            if self._local is not None:
                return self._local
            raise errors.CredentialsMissing()
        if bearer.startswith(tokens.PREFIX):
            return await self._tokens.verify(bearer)
        if self._jwt is None:
            raise errors.BadCredentials(
                "TOKEN_INVALID",
                "no identity provider is configured (local mode): only pgsage API tokens "
                "are accepted",
            )
        return await self._jwt.verify(bearer)


def _bearer(metadata: Any) -> str | None:
    values = [v for k, v in metadata or () if k == "authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise errors.BadCredentials("TOKEN_INVALID", "send one authorization header, not several")
    value = values[0]
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    scheme, _, token = text.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise errors.BadCredentials("TOKEN_INVALID", "expected `authorization: Bearer <token>`")
    if len(token) > MAX_TOKEN:
        raise errors.BadCredentials("TOKEN_INVALID", "the token is too long")
    return token


def check_settings(settings: Settings) -> None:
    """Raises `oidc.ConfigError` (one line) when the authentication settings are wrong."""
    oidc.parse_bindings(settings.role_bindings)
    if settings.oidc_issuer and not settings.oidc_audience:
        raise oidc.ConfigError(
            "PGSAGE_JOBS_OIDC_AUDIENCE is required with PGSAGE_JOBS_OIDC_ISSUER (the `aud` "
            "a token must carry)"
        )
    if settings.oidc_issuer and not settings.oidc_issuer.startswith(("https://", "http://")):
        raise oidc.ConfigError("PGSAGE_JOBS_OIDC_ISSUER must be an http(s) URL")


def build(
    settings: Settings, db: database.Database, listener: notifications.Listener
) -> tuple[Authenticator, oidc.JwksCache | None]:
    """The authenticator `settings` describe (checked by `check_settings` first)."""
    check_settings(settings)
    bindings = oidc.parse_bindings(settings.role_bindings)
    token_verifier = TokenVerifier(db, listener, settings.api_token_cache)
    if not settings.oidc_issuer:
        return Authenticator(token_verifier, None), None
    jwks = oidc.JwksCache(settings.oidc_issuer, ttl=settings.jwks_cache)
    verifier = oidc.JwtVerifier(
        jwks,
        audience=settings.oidc_audience or "",
        roles_claim=settings.oidc_roles_claim,
        bindings=bindings,
        clock_skew=settings.clock_skew,
    )
    return Authenticator(token_verifier, verifier), jwks


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates every call but health and reflection, before its handler runs.

    Placed inside `pgsage.rpc.ErrorInterceptor`, whose translation turns the refusals
    raised here into rich statuses.
    """

    def __init__(self, authenticator: Authenticator) -> None:
        self._auth = authenticator

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(PUBLIC_PREFIXES):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # JobService has no client-streaming methods

    def _unary(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            authz.bind(await self._auth.authenticate(context.invocation_metadata()))
            return await behavior(request, context)

        return wrapper

    def _stream(self, behavior: Callable[..., Any]) -> Callable[..., Any]:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            authz.bind(await self._auth.authenticate(context.invocation_metadata()))
            if inspect.isasyncgenfunction(behavior):
                async for response in behavior(request, context):
                    yield response
            else:
                await behavior(request, context)

        return wrapper
