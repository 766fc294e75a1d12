"""The audit chain's encoding and its verdicts, on chains built in memory."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from job_service import auditchain
from job_service.auditchain import Link


def _row(**fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": uuid.UUID(int=1),
        "time": datetime(2026, 12, 4, 17, 0, 0, 123456, tzinfo=UTC),
        "actor": "alice",
        "actor_subject": "sub-1",
        "actor_method": "OIDC",
        "authenticated": True,
        "action": "suggestion.approve",
        "resource": "jobs/a/suggestions/b",
        "job_id": None,
        "target": "prod",
        "statement": "",
        "outcome": "OK",
        "detail": "",
        "from_state": "PENDING",
        "to_state": "APPROVED",
        "on_behalf_of": "",
        "prev_digest": "",
    }
    row.update(fields)
    return row


def test_field_boundaries_are_unambiguous():
    one = auditchain.canonical(_row(actor="ab", actor_subject="c"))
    other = auditchain.canonical(_row(actor="a", actor_subject="bc"))
    assert one != other


def test_every_field_and_the_predecessor_change_the_digest():
    base = auditchain.digest_of(_row())
    changes = {
        "id": uuid.UUID(int=2),
        "time": datetime(2026, 12, 4, 17, 0, 0, 123457, tzinfo=UTC),
        "authenticated": False,
        "job_id": uuid.UUID(int=3),
        "prev_digest": "0" * 64,
    }
    for name in _row():
        value = changes.get(name, "changed")
        assert auditchain.digest_of(_row(**{name: value})) != base, name


def test_the_time_is_read_in_utc_whatever_its_zone():
    here = datetime(2026, 12, 4, 18, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert auditchain.digest_of(_row(time=here)) == auditchain.digest_of(_row())


def test_the_encoding_is_length_prefixed_utf8():
    encoded = auditchain.canonical(_row(detail="é"))
    assert (2).to_bytes(8, "big") + "é".encode() in encoded
    assert hashlib.sha256(encoded).hexdigest() == auditchain.digest_of(_row(detail="é"))


def _chain(n: int) -> list[Link]:
    links, prev = [], ""
    for i in range(1, n + 1):
        digest = hashlib.sha256(f"{i}{prev}".encode()).hexdigest()
        links.append(Link(uuid.UUID(int=i), i, prev, digest, True))
        prev = digest
    return links


async def _walk(links: list[Link]) -> AsyncIterator[Link]:
    for link in links:
        yield link


async def _check(links: list[Link]) -> auditchain.Result:
    return await auditchain.check(_walk(links))


def _renumbered(links: list[Link]) -> list[Link]:
    return [Link(x.id, i, x.prev_digest, x.digest, x.matches) for i, x in enumerate(links, start=1)]


def _forged(prev: str, position: int) -> Link:
    return Link(uuid.UUID(int=999), position, prev, hashlib.sha256(b"forged").hexdigest(), True)


async def test_an_intact_chain():
    result = await _check(_chain(5))
    assert (result.intact, result.records_checked) == (True, 5)
    assert (await _check([])).intact


@pytest.mark.parametrize(
    ("tamper", "problem", "named"),
    [
        # Content changed: its own digest no longer matches.
        (lambda c: [*c[:2], dataclasses.replace(c[2], matches=False), *c[3:]], "ALTERED", 3),
        # A record deleted: positions skip.
        (lambda c: c[:2] + c[3:], "REMOVED", 4),
        # The first record deleted.
        (lambda c: c[1:], "REMOVED", 2),
        # A record deleted and the positions renumbered over the gap.
        (lambda c: _renumbered(c[:2] + c[3:]), "REMOVED", 4),
        # A record slipped in after the second, linking to it; positions shifted.
        (lambda c: _renumbered([*c[:2], _forged(c[1].digest, 0), *c[2:]]), "INSERTED", 999),
        # A record slipped in with a made-up predecessor.
        (lambda c: _renumbered([*c[:2], _forged("f" * 64, 0), *c[2:]]), "INSERTED", 999),
        # A record appended off the chain (forking from an earlier one).
        (lambda c: [*c, _forged(c[1].digest, 6)], "INSERTED", 999),
        # Appended forking from the record just before the last.
        (lambda c: [*c, _forged(c[3].digest, 6)], "INSERTED", 999),
        # A record put in front of the first.
        (lambda c: _renumbered([_forged("", 0), *c]), "INSERTED", 999),
    ],
)
async def test_the_first_break_is_named(tamper, problem, named):
    result = await _check(tamper(_chain(5)))
    assert result.intact is False
    assert (result.problem, result.first_bad_record) == (
        problem,
        f"auditRecords/{uuid.UUID(int=named)}",
    )
    assert result.message
