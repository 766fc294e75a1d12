"""The gateway as an OpenID Connect relying party: discovery, authorization code + PKCE
(S256), the token endpoint (code and refresh grants), and the ID token check.

httpx talks to the issuer; PyJWT checks the ID token: signature against the issuer's JWKS
(cached, fetched again only for an unknown key id), `iss`, `aud` containing our client id,
`azp` when there are several audiences, `exp`/`iat` with a small leeway, and the `nonce` of
the sign-in. Only asymmetric algorithms are accepted (never `none`, never HMAC).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
import jwt

from gateway.settings import GatewaySettings
from pgsage import errors

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
LEEWAY = 60
_JWKS_MIN_REFETCH = 30.0


class LoginFailed(errors.PgsageError):
    """The sign-in cannot complete (HTTP 400): bad state, refused by the issuer, bad token."""

    code = errors.InvalidArgument.code
    default_reason = "LOGIN_FAILED"


class IssuerUnavailable(errors.Unavailable):
    default_reason = "IDENTITY_PROVIDER_UNAVAILABLE"


@dataclass
class Tokens:
    id_token: str
    claims: dict
    refresh_token: str


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) of RFC 7636."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OidcClient:
    """One issuer, discovered on first use; shared by all requests of a gateway."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.redirect_uri = f"{settings.public_url}/auth/callback"
        self._http = httpx.AsyncClient(timeout=settings.oidc_timeout, follow_redirects=False)
        self._metadata: dict | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._keys_fetched = 0.0
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self._http.aclose()

    async def _get_json(self, url: str) -> dict:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            value = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("identity provider request failed: %s %s", url, type(exc).__name__)
            raise IssuerUnavailable("the identity provider did not answer") from None
        if not isinstance(value, dict):
            raise IssuerUnavailable("the identity provider answered with something unexpected")
        return value

    async def metadata(self) -> dict:
        """The discovery document, fetched once and checked to name this issuer."""
        if self._metadata is None:
            issuer = self.settings.oidc_issuer
            found = await self._get_json(f"{issuer}/.well-known/openid-configuration")
            if found.get("issuer", "").rstrip("/") != issuer:
                log.error("discovery document names issuer %r, not %r", found.get("issuer"), issuer)
                raise IssuerUnavailable(
                    "the identity provider's discovery document is for another issuer"
                )
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(found.get(key), str):
                    raise IssuerUnavailable(f"the identity provider advertises no {key}")
            self._metadata = found
        return self._metadata

    async def authorization_url(self, state: str, nonce: str, challenge: str) -> str:
        meta = await self.metadata()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.oidc_client_id,
                "redirect_uri": self.redirect_uri,
                "scope": self.settings.oidc_scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        endpoint = meta["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def end_session_url(self) -> str | None:
        """RP-initiated logout at the issuer, when it advertises it (no token in the URL)."""
        meta = await self.metadata()
        endpoint = meta.get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        query = urlencode(
            {
                "client_id": self.settings.oidc_client_id,
                "post_logout_redirect_uri": f"{self.settings.public_url}/",
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def _token_request(self, form: dict[str, str]) -> dict:
        meta = await self.metadata()
        secret = self.settings.oidc_client_secret.get_secret_value()
        auth: httpx.Auth | None = None
        if secret:
            auth = httpx.BasicAuth(self.settings.oidc_client_id, secret)
        else:
            form = {**form, "client_id": self.settings.oidc_client_id}
        try:
            request = self._http.build_request(
                "POST", meta["token_endpoint"], data=form, headers={"Accept": "application/json"}
            )
            if auth is not None:
                request = next(auth.sync_auth_flow(request))
            response = await self._http.send(request)
            body = response.json()
        except (httpx.HTTPError, ValueError):
            raise IssuerUnavailable(
                "the identity provider's token endpoint did not answer"
            ) from None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", "error") if isinstance(body, dict) else "error"
            raise LoginFailed(
                f"the identity provider refused the token request: {str(error)[:100]}",
                reason="TOKEN_REQUEST_REFUSED",
                metadata={"error": str(error)[:100]},
            )
        return body

    async def exchange_code(self, code: str, verifier: str, nonce: str) -> Tokens:
        body = await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            }
        )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise LoginFailed("the identity provider sent no ID token", reason="ID_TOKEN_MISSING")
        claims = await self.verify(id_token, nonce=nonce)
        return Tokens(id_token, claims, str(body.get("refresh_token") or ""))

    async def refresh(self, refresh_token: str, subject: str) -> Tokens | None:
        """New tokens for a session, or None if the issuer gave no ID token back."""
        body = await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            return None
        claims = await self.verify(id_token, nonce=None)
        if claims.get("sub") != subject:
            raise LoginFailed(
                "the refreshed ID token is for someone else", reason="SUBJECT_CHANGED"
            )
        return Tokens(id_token, claims, str(body.get("refresh_token") or refresh_token))

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        meta = await self.metadata()
        async with self._lock:
            stale = time.monotonic() - self._keys_fetched > _JWKS_MIN_REFETCH
            if (kid not in self._keys or not kid) and (stale or not self._keys):
                document = await self._get_json(meta["jwks_uri"])
                keys = jwt.PyJWKSet.from_dict(document).keys
                self._keys = {k.key_id or "": k for k in keys if k.public_key_use in (None, "sig")}
                self._keys_fetched = time.monotonic()
        if kid in self._keys:
            return self._keys[kid]
        if not kid and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        raise LoginFailed("the ID token is signed by an unknown key", reason="ID_TOKEN_INVALID")

    async def verify(self, id_token: str, nonce: str | None) -> dict:
        """The ID token's claims after every check of OIDC Core 3.1.3.7."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.InvalidTokenError:
            raise LoginFailed("the ID token is malformed", reason="ID_TOKEN_INVALID") from None
        if header.get("alg") not in ALGORITHMS:
            raise LoginFailed("the ID token's algorithm is not accepted", reason="ID_TOKEN_INVALID")
        key = await self._key(header.get("kid"))
        client_id = self.settings.oidc_client_id
        try:
            claims = jwt.decode(
                id_token,
                key=key,
                algorithms=ALGORITHMS,
                audience=client_id,
                issuer=self.settings.oidc_issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.InvalidTokenError as exc:
            raise LoginFailed(
                f"the ID token was refused: {type(exc).__name__}", reason="ID_TOKEN_INVALID"
            ) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != client_id:
            raise LoginFailed("the ID token was issued to another party", reason="ID_TOKEN_INVALID")
        if nonce is not None and not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise LoginFailed(
                "the ID token's nonce does not match this sign-in", reason="NONCE_MISMATCH"
            )
        return claims
