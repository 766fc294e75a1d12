"""Opaque keyset page tokens and page sizes (AIP-158).

A token names the last item of the page before (its `create_time` and `id`, the keyset
every list orders by, newest first) and the digest of the filter it was issued for: a
token used with another filter, or one that was tampered with, is INVALID_ARGUMENT
(`INVALID_PAGE_TOKEN`). Keyset rather than OFFSET: a page costs the same deep in a list,
and rows inserted meanwhile never shift a page (no repeats, no skips).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from job_service import errors
from pgsage import errors as pgsage_errors

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VERSION = "1"

Position = tuple[datetime, uuid.UUID]


def page_size(requested: int) -> int:
    """The page size to use: 0 means the default; larger than the maximum is capped."""
    if requested < 0:
        raise pgsage_errors.InvalidArgument("page_size", "page_size must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _check(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:8]


def encode(position: Position, filter_digest: str) -> str:
    create_time, item_id = position
    micros = (create_time - _EPOCH) // timedelta(microseconds=1)
    body = f"{_VERSION}.{micros}.{item_id.hex}.{filter_digest}"
    return base64.urlsafe_b64encode(f"{body}.{_check(body)}".encode()).decode().rstrip("=")


def decode(token: str, filter_digest: str) -> Position | None:
    """The position a token names (None for an empty token, i.e. the first page)."""
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, micros, item_hex, digest, check = text.split(".")
        body = f"{version}.{micros}.{item_hex}.{digest}"
        if version != _VERSION or check != _check(body):
            raise ValueError("bad check")
        position = (_EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=item_hex))
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise errors.InvalidPageToken(
            "page_token is not a token this list issued; start again without it"
        ) from None
    if digest != filter_digest:
        raise errors.InvalidPageToken(
            "page_token was issued for another filter; use the same filter or start again"
        )
    return position
