"""The API token repository: pgsage's own bearer tokens for services and scripts.

A token's secret is `pgs_` + 43 URL-safe characters (256 random bits), shown once at
creation; only its SHA-256 is stored, so the table (or a backup of it) grants nothing. A
revocation notifies `pgsage_api_tokens` with the token's id in the same statement, so every
replica drops it from its cache as soon as the revocation commits.
"""

# Statements here are assembled from constant fragments and numbered placeholders only.
# ruff: noqa: S608

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from job_service import domain, errors
from job_service.database import Connection
from job_service.principals import Role, RoleBinding

PREFIX = "pgs_"
CHANNEL = "pgsage_api_tokens"
"""LISTEN/NOTIFY channel of revocations; the payload is the token's id."""
NAME_PATTERN = "apiTokens/{uuid}"


@dataclass(frozen=True)
class ApiToken:
    id: uuid.UUID
    display_name: str
    role_bindings: tuple[RoleBinding, ...]
    creator: str
    create_time: datetime
    expire_time: datetime
    revoke_time: datetime | None = None
    last_use_time: datetime | None = None

    @property
    def name(self) -> str:
        return f"apiTokens/{self.id}"

    @property
    def subject(self) -> str:
        return self.name


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_name(name: str, field: str = "name") -> uuid.UUID:
    prefix, _, rest = name.partition("/")
    if prefix == "apiTokens" and len(rest) == 36:
        try:
            return uuid.UUID(rest)
        except ValueError:
            pass
    raise errors.InvalidName(field, name, NAME_PATTERN)


_COLUMNS = (
    "id, display_name, role_bindings, creator, create_time, expire_time, revoke_time, last_use_time"
)


def _token(row: object) -> ApiToken:
    values = dict(row)  # type: ignore[call-overload]
    raw = values.pop("role_bindings")
    bindings = json.loads(raw) if isinstance(raw, str) else raw
    return ApiToken(
        role_bindings=tuple(RoleBinding(Role[b["role"]], b["targets"]) for b in bindings),
        **values,
    )


async def create(
    conn: Connection,
    *,
    display_name: str,
    role_bindings: tuple[RoleBinding, ...],
    creator: str,
    expire_time: datetime,
) -> tuple[ApiToken, str]:
    """Stores a new token; returns it and its secret (the only time the secret exists)."""
    secret = new_secret()
    bindings = [{"role": b.role.name, "targets": b.targets} for b in role_bindings]
    row = await conn.fetchrow(
        f"INSERT INTO api_token (id, display_name, role_bindings, secret_sha256, creator, "
        f"expire_time) VALUES ($1, $2, $3::jsonb, $4, $5, $6) RETURNING {_COLUMNS}",
        uuid.uuid4(),
        display_name,
        json.dumps(bindings),
        digest(secret),
        creator,
        expire_time,
    )
    return _token(row), secret


async def find(conn: Connection, secret: str) -> ApiToken | None:
    """The token whose secret this is (revoked and expired ones included), or None."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM api_token WHERE secret_sha256 = $1", digest(secret)
    )
    return _token(row) if row is not None else None


async def touch(conn: Connection, token_id: uuid.UUID) -> None:
    """Records a use, at most once a minute per token (a busy token writes rarely)."""
    await conn.execute(
        "UPDATE api_token SET last_use_time = now() WHERE id = $1 "
        "AND (last_use_time IS NULL OR last_use_time < now() - interval '1 minute')",
        token_id,
    )


async def revoke(conn: Connection, token_id: uuid.UUID) -> ApiToken:
    """Revokes a token and tells every replica; revoking it again changes nothing."""
    row = await conn.fetchrow(
        f"WITH u AS (UPDATE api_token SET revoke_time = coalesce(revoke_time, now()) "
        f"WHERE id = $1 RETURNING {_COLUMNS}) "
        f"SELECT u.*, pg_notify('{CHANNEL}', u.id::text) FROM u",
        token_id,
    )
    if row is None:
        raise errors.ApiTokenNotFound(f"apiTokens/{token_id}")
    return _token({k: row[k] for k in _COLUMNS.split(", ")})


async def list_page(
    conn: Connection,
    position: tuple[datetime, uuid.UUID] | None,
    limit: int,
    *,
    show_inactive: bool,
) -> domain.Page:
    """One page of tokens, newest first, keyset after `position`; never a secret or hash."""
    where: list[str] = []
    values: list[object] = []
    if not show_inactive:
        where.append("revoke_time IS NULL AND expire_time > now()")
    if position is not None:
        values.extend(position)
        where.append("(create_time, id) < ($1, $2)")
    values.append(limit + 1)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM api_token {clause} ORDER BY create_time DESC, id DESC "
        f"LIMIT ${len(values)}",
        *values,
    )
    items = tuple(_token(r) for r in rows[:limit])
    more = len(rows) > limit
    return domain.Page(items, (items[-1].create_time, items[-1].id) if more else None)
