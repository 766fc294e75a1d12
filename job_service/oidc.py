"""Verifying JWTs of the configured OpenID Connect issuer.

The issuer's discovery document (`/.well-known/openid-configuration`) names its JWKS; the
keys are fetched with httpx (with a timeout), cached for `jwks_cache`, and fetched again on a
`kid` they do not hold at most once per `REFETCH_INTERVAL` (key rotation), never per call.
PyJWT checks the signature, `iss`, `aud`, `exp`, `nbf` and `iat` with `clock_skew` leeway.
Only asymmetric algorithms are accepted: `none` and HS* (whose "secret" an attacker would
take from the public JWKS) are refused before any key is looked at.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt

from job_service import errors
from job_service.principals import AuthMethod, Principal, Role, RoleBinding

log = logging.getLogger(__name__)

ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
REFETCH_INTERVAL = 30.0
# While the issuer cannot be reached and no keys are known, calls fail fast for this long
# instead of each trying again.
FAILURE_BACKOFF = 2.0
HTTP_TIMEOUT = httpx.Timeout(5.0)
# How long a verified JWT is taken on trust before it is checked again, and how many are kept.
VERIFIED_TTL = 60.0
MAX_VERIFIED = 10_000


class ConfigError(ValueError):
    """A setting of authentication is wrong; the message is one line saying which."""


def parse_bindings(raw: Sequence[Mapping[str, str]]) -> dict[str, tuple[RoleBinding, ...]]:
    """`role_bindings` settings → the role bindings each group grants (checked at start-up)."""
    by_group: dict[str, list[RoleBinding]] = {}
    for i, item in enumerate(raw):
        group, role = item.get("group", ""), item.get("role", "")
        unknown = set(item) - {"group", "role", "targets"}
        if unknown:
            raise ConfigError(f"role_bindings[{i}]: unknown key(s) {sorted(unknown)}")
        if not group:
            raise ConfigError(f"role_bindings[{i}]: 'group' is required")
        if role.upper() not in Role.__members__:
            raise ConfigError(
                f"role_bindings[{i}]: role {role!r} is not one of {', '.join(Role.__members__)}"
            )
        binding = RoleBinding(Role[role.upper()], item.get("targets") or "*")
        by_group.setdefault(group, []).append(binding)
    return {g: tuple(b) for g, b in by_group.items()}


def groups_of(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The caller's groups: the claim as a list, or a string of names (spaces or commas)."""
    value = claims.get(claim)
    if isinstance(value, str):
        return [g for g in value.replace(",", " ").split() if g]
    if isinstance(value, list):
        return [g for g in value if isinstance(g, str)]
    return []


def display_name_of(claims: Mapping[str, Any]) -> str:
    for key in ("name", "preferred_username", "email", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return "".join(ch for ch in value if ch.isprintable()).strip()[:200]
    return ""


class JwksCache:
    """The issuer's signing keys by `kid`, fetched lazily and refreshed as described above."""

    def __init__(self, issuer: str, *, ttl: timedelta) -> None:
        self.issuer = issuer.rstrip("/")
        self._ttl = ttl.total_seconds()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched = 0.0  # monotonic time of the last successful fetch
        self._attempted = -REFETCH_INTERVAL
        self._failed: tuple[float, str] | None = None  # (monotonic time, why) of a failure
        self._lock = asyncio.Lock()
        self._client = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key `kid` names (the only key when the token names none), or None."""
        now = time.monotonic()
        if not self._keys and self._failed and now - self._failed[0] < FAILURE_BACKOFF:
            raise errors.IdentityProviderUnavailable(self._failed[1])
        if not self._keys or now - self._fetched > self._ttl:
            await self._refresh(force=not self._keys)
        found = self._pick(kid)
        if found is None and time.monotonic() - self._attempted >= REFETCH_INTERVAL:
            await self._refresh(force=False)
            found = self._pick(kid)
        return found

    def _pick(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self, *, force: bool) -> None:
        started = time.monotonic()
        async with self._lock:
            if self._attempted >= started:
                return  # another call refreshed while this one waited
            if not force and time.monotonic() - self._attempted < REFETCH_INTERVAL:
                return
            self._attempted = time.monotonic()
            try:
                self._keys = await self._fetch()
                self._fetched = time.monotonic()
                self._failed = None
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                log.warning("cannot fetch the signing keys of %s: %s", self.issuer, exc)
                self._failed = (time.monotonic(), type(exc).__name__)
                if not self._keys:
                    raise errors.IdentityProviderUnavailable(type(exc).__name__) from None

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        discovery = await self._client.get(f"{self.issuer}/.well-known/openid-configuration")
        discovery.raise_for_status()
        document = discovery.json()
        if str(document["issuer"]).rstrip("/") != self.issuer:
            raise ValueError("the discovery document names another issuer")
        response = await self._client.get(str(document["jwks_uri"]))
        response.raise_for_status()
        keys: dict[str, jwt.PyJWK] = {}
        for raw in response.json()["keys"]:
            if raw.get("use", "sig") != "sig" or raw.get("kty") == "oct":
                continue
            try:
                key = jwt.PyJWK(raw)
            except (jwt.PyJWKError, jwt.InvalidKeyError):
                continue  # an algorithm we do not accept, or a malformed key
            keys[str(raw.get("kid", ""))] = key
        log.info("fetched %d signing key(s) of %s", len(keys), self.issuer)
        return keys


@dataclass(frozen=True)
class _Verified:
    principal: Principal
    expires: float  # the token's `exp` plus the clock skew, epoch seconds
    until: float  # when this entry must be verified again (monotonic)


class JwtVerifier:
    """Turns a JWT of the configured issuer into a `Principal`, or refuses it.

    A verified token is remembered (keyed by its SHA-256) for at most `VERIFIED_TTL` and
    never past its expiry, so a caller sending the same token on every call pays the full
    check (PyJWT's decoding costs ~0.3 ms of Python per call, far more than the signature)
    about once a minute. Only tokens that passed every check are remembered; a key removed
    from the issuer's JWKS stops being honoured within that minute.
    """

    def __init__(
        self,
        jwks: JwksCache,
        *,
        audience: str,
        roles_claim: str,
        bindings: Mapping[str, tuple[RoleBinding, ...]],
        clock_skew: timedelta,
    ) -> None:
        self._jwks = jwks
        self._audience = audience
        self._roles_claim = roles_claim
        self._bindings = bindings
        self._leeway = clock_skew
        self._verified: dict[bytes, _Verified] = {}

    async def verify(self, token: str) -> Principal:
        key = hashlib.sha256(token.encode()).digest()
        hit = self._verified.get(key)
        if hit is not None:
            if time.monotonic() < hit.until and time.time() < hit.expires:
                return hit.principal
            del self._verified[key]
        principal, expires = await self._verify(token)
        if len(self._verified) >= MAX_VERIFIED:
            self._verified.clear()
        until = time.monotonic() + VERIFIED_TTL
        self._verified[key] = _Verified(principal, expires, until)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise errors.BadCredentials("TOKEN_INVALID", "it is not a JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise errors.BadCredentials(
                "TOKEN_INVALID", f"algorithm {str(alg)[:20]!r} is not accepted"
            )
        kid = header.get("kid")
        key = await self._jwks.key(kid if isinstance(kid, str) else None)
        if key is None:
            raise errors.BadCredentials("TOKEN_INVALID", "it is signed with an unknown key")
        claims = self._decode(token, key, alg)
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise errors.BadCredentials("TOKEN_INVALID", "its subject is empty")
        roles: list[RoleBinding] = []
        for group in groups_of(claims, self._roles_claim):
            roles.extend(self._bindings.get(group, ()))
        principal = Principal(
            subject=subject,
            display_name=display_name_of(claims),
            method=AuthMethod.OIDC,
            bindings=tuple(dict.fromkeys(roles)),
        )
        return principal, float(claims["exp"]) + self._leeway.total_seconds()

    def _decode(self, token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._jwks.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise errors.BadCredentials("TOKEN_EXPIRED", "it has expired") from None
        except jwt.ImmatureSignatureError:
            raise errors.BadCredentials("TOKEN_NOT_YET_VALID", "it is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise errors.BadCredentials(
                "TOKEN_INVALID", "it was issued for another audience"
            ) from None
        except jwt.InvalidIssuerError:
            raise errors.BadCredentials("TOKEN_INVALID", "it is from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise errors.BadCredentials(
                "TOKEN_INVALID", f"it lacks the {exc.claim!r} claim"
            ) from None
        except jwt.InvalidSignatureError:
            raise errors.BadCredentials("TOKEN_INVALID", "its signature is wrong") from None
        except jwt.PyJWTError:
            raise errors.BadCredentials("TOKEN_INVALID", "it is malformed") from None
