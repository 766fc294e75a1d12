"""Webhook signing secrets at rest, sealed under the keys of PGSAGE_JOBS_WEBHOOK_SECRET_KEYS.

A destination's secret must be readable by the sender (an HMAC needs the secret itself, so
it cannot be hashed like an API token); what the store holds is a Fernet token (AES-128-CBC
with an HMAC-SHA256, from `cryptography`) prefixed `fernet:`, so a copy of the job store, a
backup or a read-only SQL session does not give away the secrets that sign pgsage's POSTs.

The setting is a comma-separated list of Fernet keys
(`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`
makes one): the first seals, every one opens. A key is rotated by putting the new one first
and, once a start-up has resealed every secret under it, dropping the old one. Without keys,
secrets are kept as given (a warning says so at start-up outside local mode); a start-up
with keys seals every secret still kept in clear.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from job_service.database import Connection

log = logging.getLogger(__name__)

PREFIX = "fernet:"
SETTING = "PGSAGE_JOBS_WEBHOOK_SECRET_KEYS"


class Unreadable(Exception):
    """A sealed secret none of the configured keys opens (the message says what to change)."""


def parse_keys(value: str) -> list[str]:
    """The keys of the setting; ValueError (never echoing a key) for one that is not a
    Fernet key."""
    keys = [k.strip() for k in value.split(",") if k.strip()]
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                f"key {number} of {SETTING} is not a Fernet key (32 url-safe base64-encoded "
                "bytes, 44 characters)"
            ) from None
    return keys


class Sealer:
    """Seals and opens webhook secrets (see the module docstring)."""

    def __init__(self, keys: Sequence[str] = ()) -> None:
        fernets = [Fernet(k.encode("ascii")) for k in keys]
        self._first = fernets[0] if fernets else None
        self._fernet = MultiFernet(fernets) if fernets else None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: str | None) -> str | None:
        if secret is None or self._fernet is None:
            return secret
        return PREFIX + self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, stored: str | None) -> str | None:
        if stored is None or not stored.startswith(PREFIX):
            return stored
        if self._fernet is None:
            raise Unreadable(f"the signing secret is sealed and {SETTING} is not set")
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise Unreadable(
                f"none of the keys in {SETTING} opens the signing secret (a key was dropped?)"
            ) from None

    async def reseal(self, conn: Connection) -> int:
        """Seals, under the first key, every secret kept in clear or sealed under another
        key; how many were rewritten. Secrets no key opens are left alone (and logged)."""
        if self._fernet is None:
            return 0
        rows = await conn.fetch("SELECT id, secret FROM webhook WHERE secret IS NOT NULL")
        changed = 0
        for row in rows:
            stored: str = row["secret"]
            if stored.startswith(PREFIX):
                token = stored[len(PREFIX) :].encode("ascii")
                if self._opens_with_first(token):
                    continue
                try:
                    new = PREFIX + self._fernet.rotate(token).decode("ascii")
                except InvalidToken:
                    log.warning("webhook %s: no key opens its signing secret", row["id"])
                    continue
            else:
                new = PREFIX + self._fernet.encrypt(stored.encode("utf-8")).decode("ascii")
            await conn.execute(
                "UPDATE webhook SET secret = $2 WHERE id = $1 AND secret = $3",
                row["id"],
                new,
                stored,
            )
            changed += 1
        return changed

    def _opens_with_first(self, token: bytes) -> bool:
        assert self._first is not None
        try:
            self._first.decrypt(token)
        except InvalidToken:
            return False
        return True
