"""The `filter` language of ListJobs, CountJobs and ListSuggestions (a small AIP-160 subset).

A filter is terms joined by `AND`; each term is `field op value`:

    state = RUNNING                      state = (PENDING, RUNNING)
    kind = ANALYZE                       target = "demo"
    create_time >= "2026-01-01T00:00:00Z"   create_time < "2026-02-01T00:00:00Z"
    job = "jobs/..."                     benchmarked = true        superseded = false

Enum and text fields take `=` (enums also a parenthesised list); `create_time` takes
`= < <= > >=` with an RFC 3339 time. Anything else is INVALID_ARGUMENT (`INVALID_FILTER`)
saying what is wrong and where. The parsed filter has a canonical text, whose hash binds a
page token to the filter it was issued for.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from job_service import errors, names

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op><=|>=|!=|=|<|>)
    | (?P<lparen>\()
    | (?P<rparen>\))
    | (?P<comma>,)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<word>[A-Za-z0-9_.:/+\-]+)
    )""",
    re.VERBOSE,
)
MAX_FILTER_LENGTH = 2000


@dataclass(frozen=True)
class FieldSpec:
    """What a field accepts: `enum` (with `values`), `text`, `time`, `bool` or `job`."""

    type: str
    values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    values: tuple  # parsed: str, datetime, bool or uuid.UUID


@dataclass(frozen=True)
class Filter:
    terms: tuple[Term, ...] = ()

    @functools.cached_property
    def canonical(self) -> str:
        """The same filter always reads the same, however it was written."""
        parts = sorted(
            f"{t.field}{t.op}{','.join(sorted(_canon(v) for v in t.values))}" for t in self.terms
        )
        return " AND ".join(parts)

    @functools.cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.canonical.encode()).hexdigest()[:16]

    def get(self, field: str) -> list[Term]:
        return [t for t in self.terms if t.field == field]

    def one(self, field: str) -> object | None:
        """The single `=` value of `field`, or None when the filter has none."""
        terms = self.get(field)
        return terms[0].values[0] if terms else None


def _canon(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise errors.InvalidFilter(f"unexpected {text[pos : pos + 10].strip()!r} at {pos}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str, fields: tuple[tuple[str, FieldSpec], ...]) -> Filter:
    return _parse(text, dict(fields))


def parse(text: str, fields: Mapping[str, FieldSpec]) -> Filter:
    """Parses `text` against `fields`; an empty text is the empty filter.

    Parsed filters are immutable, and a UI sends the same few again and again: cached.
    """
    return _parse_cached(text, tuple(fields.items()))


def _parse(text: str, fields: Mapping[str, FieldSpec]) -> Filter:
    if len(text) > MAX_FILTER_LENGTH:
        raise errors.InvalidFilter(f"longer than {MAX_FILTER_LENGTH} characters")
    tokens = _tokens(text)
    terms: list[Term] = []
    i = 0

    def at_(k: int) -> tuple[str, str, int] | None:
        return tokens[k] if k < len(tokens) else None

    def expect(kind: str, what: str) -> tuple[str, str, int]:
        nonlocal i
        if i >= len(tokens):
            raise errors.InvalidFilter(f"expected {what} at the end")
        token = tokens[i]
        if token[0] != kind:
            raise errors.InvalidFilter(f"expected {what} at {token[2]}, found {token[1]!r}")
        i += 1
        return token

    while i < len(tokens):
        if terms:
            word = expect("word", "AND")
            if word[1].upper() != "AND":
                raise errors.InvalidFilter(
                    f"terms are joined by AND; found {word[1]!r} at {word[2]}"
                )
        _, field, at = expect("word", "a field name")
        spec = fields.get(field)
        if spec is None:
            known = ", ".join(sorted(fields))
            raise errors.InvalidFilter(f"unknown field {field!r} at {at} (known: {known})")
        _, op, at = expect("op", "an operator")
        allowed = ("=", "<", "<=", ">", ">=") if spec.type == "time" else ("=",)
        if op not in allowed:
            raise errors.InvalidFilter(f"{field} does not take {op!r} (use {' '.join(allowed)})")
        raw: list[tuple[str, str, int]] = []
        if at_(i) is not None and tokens[i][0] == "lparen":
            if spec.type != "enum":
                raise errors.InvalidFilter(f"{field} takes one value, not a list")
            raw.append(_value(at_(i + 1), field))
            i += 2
            while at_(i) is not None and tokens[i][0] == "comma":
                raw.append(_value(at_(i + 1), field))
                i += 2
            expect("rparen", "')'")
        else:
            raw.append(_value(at_(i), field))
            i += 1
        values = tuple(_convert(field, spec, v) for v in raw)
        if spec.type != "time" and any(t.field == field for t in terms):
            raise errors.InvalidFilter(f"{field} appears twice (use {field} = (A, B) for either)")
        terms.append(Term(field, op, values))
    return Filter(tuple(terms))


def _value(token: tuple[str, str, int] | None, field: str) -> tuple[str, str, int]:
    if token is None or token[0] not in ("word", "string"):
        where = "at the end" if token is None else f"at {token[2]}"
        raise errors.InvalidFilter(f"expected a value for {field} {where}")
    if token[0] == "string":
        return ("string", re.sub(r"\\(.)", r"\1", token[1][1:-1]), token[2])
    return token


def _convert(field: str, spec: FieldSpec, token: tuple[str, str, int]) -> object:
    text = token[1]
    if spec.type == "enum":
        value = text.upper()
        if value not in spec.values:
            raise errors.InvalidFilter(
                f"{field} has no value {text!r} (one of: {', '.join(sorted(spec.values))})"
            )
        return value
    if spec.type == "text":
        if not text:
            raise errors.InvalidFilter(f"{field} needs a non-empty value")
        return text
    if spec.type == "bool":
        if text.lower() not in ("true", "false"):
            raise errors.InvalidFilter(f"{field} is true or false, not {text!r}")
        return text.lower() == "true"
    if spec.type == "job":
        return names.parse_job(text, field="filter")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise errors.InvalidFilter(
            f'{field} needs an RFC 3339 time such as "2026-01-01T00:00:00Z", not {text!r}'
        ) from None
    if when.tzinfo is None:
        raise errors.InvalidFilter(f"{field} needs a time zone (such as Z) in {text!r}")
    return when
