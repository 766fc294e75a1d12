"""The session cookie: what a signed-in browser holds, sealed so only the gateway reads it.

The payload (subject, display name, the ID token forwarded to the job service, the refresh
token, expiries) is JSON sealed with AES-256-GCM under a key derived (HKDF-SHA256) from
`session_secret`: any gateway replica with the same secret, or the same gateway after a
restart, opens it; a tampered or forged cookie fails authentication and reads as signed out.
The cookie's purpose is bound in as associated data, so the short-lived sign-in cookie
(state, nonce, PKCE verifier) can never be replayed as a session.

Browsers keep about 4 KB per cookie, and ID tokens with many groups are large: a sealed value
longer than `CHUNK` is split over `pgsage_session`, `pgsage_session_1`, `pgsage_session_2`, ...
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SESSION_COOKIE = "pgsage_session"
LOGIN_COOKIE = "pgsage_login"
CHUNK = 3800
MAX_CHUNKS = 8
_NONCE = 12


class Sealer:
    """AES-GCM sealing of small JSON documents under a key derived from the session secret."""

    def __init__(self, secret: str) -> None:
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"pgsage gateway cookie v1"
        ).derive(secret.encode())
        self._aead = AESGCM(key)

    def seal(self, purpose: str, payload: Mapping[str, object]) -> str:
        nonce = os.urandom(_NONCE)
        data = json.dumps(payload, separators=(",", ":")).encode()
        sealed = nonce + self._aead.encrypt(nonce, data, purpose.encode())
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def open(self, purpose: str, value: str) -> dict | None:
        """The payload, or None for anything not sealed by this secret for this purpose."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            if len(raw) <= _NONCE:
                return None
            data = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode())
            payload = json.loads(data)
        except (InvalidTag, ValueError, binascii.Error):
            return None
        return payload if isinstance(payload, dict) else None


@dataclass
class Session:
    """One signed-in person, as the sealed cookie carries them."""

    sub: str
    name: str
    id_token: str
    # The ID token's expiry (Unix seconds): refresh after it.
    token_exp: int
    # When the sign-in ends whatever happens (Unix seconds): session_max_age after sign-in.
    session_exp: int
    refresh_token: str = ""

    @classmethod
    def from_payload(cls, payload: dict) -> Session | None:
        try:
            return cls(
                sub=str(payload["sub"]),
                name=str(payload["name"]),
                id_token=str(payload["id_token"]),
                token_exp=int(payload["token_exp"]),
                session_exp=int(payload["session_exp"]),
                refresh_token=str(payload.get("refresh_token", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def chunk_names(count: int) -> list[str]:
    return [SESSION_COOKIE if i == 0 else f"{SESSION_COOKIE}_{i}" for i in range(count)]


def read_session(sealer: Sealer, cookies: Mapping[str, str], now: float) -> Session | None:
    """The session in the request's cookies, or None (absent, tampered, forged, expired)."""
    first = cookies.get(SESSION_COOKIE)
    if not first:
        return None
    parts = [first]
    for name in chunk_names(MAX_CHUNKS)[1:]:
        part = cookies.get(name)
        if not part:
            break
        parts.append(part)
    payload = sealer.open("session", "".join(parts))
    session = Session.from_payload(payload) if payload else None
    if session is None or session.session_exp <= now:
        return None
    return session


def session_cookies(sealer: Sealer, session: Session) -> list[tuple[str, str]]:
    """(name, value) of each chunk of the sealed session."""
    sealed = sealer.seal("session", asdict(session))
    pieces = [sealed[i : i + CHUNK] for i in range(0, len(sealed), CHUNK)]
    if len(pieces) > MAX_CHUNKS:
        raise ValueError("the session is too large for its cookies")
    return list(zip(chunk_names(len(pieces)), pieces, strict=True))


def set_cookie_header(name: str, value: str, *, max_age: int, secure: bool, path: str = "/") -> str:
    """A Set-Cookie value: HttpOnly, SameSite=Lax (the issuer's redirect back is a top-level
    GET, which Lax lets through; cross-site POSTs and subrequests do not carry it)."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max(max_age, 0)}", "HttpOnly"]
    parts.append("SameSite=Lax")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def clear_cookie_headers(cookies: Mapping[str, str], secure: bool) -> list[str]:
    """Set-Cookie values deleting every session chunk the browser sent."""
    return [
        set_cookie_header(name, "", max_age=0, secure=secure)
        for name in chunk_names(MAX_CHUNKS)
        if name in cookies
    ]
