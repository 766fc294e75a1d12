"""The audit trail's hash chain: recompute it and name the first record that breaks it.

Each record stores `digest` = SHA-256 over a canonical encoding of its content and its
predecessor's digest (`prev_digest`, '' for the first), and a `chain_position` (1, 2, ...).
The database writes them (the `audit_record_append` trigger of migration 0006, under an
advisory lock, so the chain never forks); this module recomputes the same encoding
independently of the database's functions, walking the chain in position order in batches
(a million records never sit in memory at once).

What a break means, at the first record `r` that does not follow its predecessor `p`:
- ALTERED: `r`'s content does not match its own digest (changed after it was written).
- REMOVED: `r`'s predecessor is missing: positions skip before `r`, or `r` is genuine (the
  next record links to it) but `p` is not the record it was chained to (deleted and the
  positions renumbered, or replaced by a rehashed copy). `r`, the record after the gap, is
  named.
- INSERTED: a record that does not belong between its neighbours: one whose neighbours link
  to each other around it, or one that links to no record before it.

The position is not part of the digest: the links carry the order, and positions only help
name a break (a gap in them is a removal).

A chain cut short at its newest end, or rewritten wholesale by someone who can write the
table, still verifies: compare the newest digest (in the message) with one kept elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from job_service.database import Database

VERSION = "pgsage-audit-v1"
BATCH = 2000

ALTERED = "ALTERED"
REMOVED = "REMOVED"
INSERTED = "INSERTED"

# Content columns in the order of `audit_record_digest` (migration 0006), after id and time.
_TEXT_COLUMNS = ("actor", "actor_subject", "actor_method")
_MORE_TEXT = ("action", "resource")
_LAST_TEXT = (
    "target",
    "statement",
    "outcome",
    "detail",
    "from_state",
    "to_state",
    "on_behalf_of",
    "prev_digest",
)

_BATCH_SQL = """
SELECT id, time, actor, actor_subject, actor_method, authenticated, action, resource, job_id,
       target, statement, outcome, detail, from_state, to_state, on_behalf_of,
       chain_position, prev_digest, digest
FROM audit_record WHERE chain_position > $1 ORDER BY chain_position LIMIT $2"""


_LENGTH = struct.Struct(">q").pack


def _time_text(value: datetime) -> str:
    # As `to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')` renders it.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def canonical(row: Any) -> bytes:
    """The unambiguous encoding a record's digest is taken over: each field as its UTF-8
    byte length (8 bytes, big-endian) then its bytes, in the order of migration 0006."""
    job_id = row["job_id"]
    values = (
        VERSION,
        str(row["id"]),
        _time_text(row["time"]),
        *(row[c] for c in _TEXT_COLUMNS),
        "t" if row["authenticated"] else "f",
        *(row[c] for c in _MORE_TEXT),
        str(job_id) if job_id is not None else "",
        *(row[c] for c in _LAST_TEXT),
    )
    out = bytearray()
    for value in values:
        data = value.encode()
        out += _LENGTH(len(data))
        out += data
    return bytes(out)


def digest_of(row: Any) -> str:
    """The hex SHA-256 a record should carry, given its content and `prev_digest`."""
    return hashlib.sha256(canonical(row)).hexdigest()


@dataclass(frozen=True)
class Link:
    """A record's place in the chain, as stored, and whether its content matches."""

    id: uuid.UUID
    position: int
    prev_digest: str
    digest: str
    matches: bool

    @property
    def name(self) -> str:
        return f"auditRecords/{self.id}"


@dataclass(frozen=True)
class Result:
    """What `verify` found (mirrors `VerifyAuditTrailResponse`)."""

    intact: bool
    records_checked: int
    first_bad_record: str = ""
    problem: str = ""
    message: str = ""


def _matching(rows: list[Any]) -> list[bool]:
    return [digest_of(row) == row["digest"] for row in rows]


async def links(db: Database, batch: int = BATCH) -> AsyncIterator[Link]:
    """Every record in chain order, recomputed, fetched `batch` at a time (keyset)."""
    after = 0
    while True:
        async with db.connection() as conn:
            rows = await conn.fetch(_BATCH_SQL, after, batch)
        # Hashing a batch is CPU work: off the event loop, so other RPCs go on meanwhile.
        matches = await asyncio.to_thread(_matching, rows)
        for row, match in zip(rows, matches, strict=True):
            yield Link(
                id=row["id"],
                position=row["chain_position"],
                prev_digest=row["prev_digest"],
                digest=row["digest"],
                matches=match,
            )
        if len(rows) < batch:
            return
        after = rows[-1]["chain_position"]


async def verify(db: Database, batch: int = BATCH) -> Result:
    """Walks the whole chain in the database; stops at the first record that breaks it."""
    return await check(links(db, batch))


async def check(walk: AsyncIterator[Link]) -> Result:
    """Walks `walk` (records in position order); stops at the first that breaks the chain."""
    checked = 0
    before: Link | None = None  # the record two back
    last: Link | None = None
    async for r in walk:
        checked += 1
        if not r.matches:
            return Result(
                False,
                checked,
                r.name,
                ALTERED,
                f"{r.name} (position {r.position}) does not match its digest: its content "
                "was changed after it was written",
            )
        expected_prev = last.digest if last else ""
        expected_position = last.position + 1 if last else 1
        if r.prev_digest != expected_prev or r.position != expected_position:
            following = await anext(walk, None)
            return _classify(before, last, r, following, checked)
        before, last = last, r
    if last is None:
        return Result(True, 0, message="the audit trail is empty")
    return Result(
        True,
        checked,
        message=f"all {checked} records match their digests and link in order; the newest is "
        f"{last.name} (position {last.position}, digest {last.digest})",
    )


def _classify(
    before: Link | None, last: Link | None, r: Link, following: Link | None, checked: int
) -> Result:
    """Names the break between `last` and `r` (see the module docstring)."""
    expected_prev = last.digest if last else ""
    expected_position = last.position + 1 if last else 1
    if last is not None and r.prev_digest == (before.digest if before else ""):
        # `last` and `r` both claim the same predecessor: one of them does not belong. The
        # one the chain goes on from is genuine.
        if following is not None and following.prev_digest == r.digest:
            return _inserted(last, checked, "the records around it link to each other")
        return _inserted(r, checked, f"it claims the same predecessor as {last.name}")
    if r.position > expected_position:
        missing = r.position - expected_position
        return Result(
            False,
            checked,
            r.name,
            REMOVED,
            f"{missing} record{'s' if missing > 1 else ''} before {r.name} "
            f"(position{'s' if missing > 1 else ''} {expected_position}"
            f"{f'-{r.position - 1}' if missing > 1 else ''}) "
            f"{'are' if missing > 1 else 'is'} missing",
        )
    if following is not None and following.prev_digest == expected_prev:
        return _inserted(r, checked, "the records around it link to each other")
    if following is not None and following.prev_digest == r.digest:
        before_r = f"{last.name}, before it, is not that record" if last else "it is first"
        return Result(
            False,
            checked,
            r.name,
            REMOVED,
            f"{r.name} (position {r.position}) was chained to a record that is missing: "
            f"{before_r} (removed, or replaced by a copy with a new digest)",
        )
    return _inserted(r, checked, "it does not link to the record before it")


def _inserted(r: Link, checked: int, why: str) -> Result:
    return Result(
        False,
        checked,
        r.name,
        INSERTED,
        f"{r.name} (position {r.position}) was not written in the chain's order: {why}",
    )
