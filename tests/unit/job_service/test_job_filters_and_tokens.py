"""The filter language, page tokens and resource names of the job service (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from job_service import errors, filters, jobs, names, pagination, suggestions


def test_filter_parses_terms_lists_and_times():
    flt = filters.parse(
        'state = (pending, RUNNING) AND target = "my db" and create_time >= '
        '"2026-01-01T00:00:00Z" AND create_time < 2026-02-01T00:00:00+01:00',
        jobs.FILTER_FIELDS,
    )
    assert flt.get("state")[0].values == ("PENDING", "RUNNING")
    assert flt.one("target") == "my db"
    ops = [(t.op, t.values[0]) for t in flt.get("create_time")]
    assert ops[0] == (">=", datetime(2026, 1, 1, tzinfo=UTC))
    assert ops[1][0] == "<" and ops[1][1].utcoffset().total_seconds() == 3600


def test_filter_canonical_form_ignores_spelling_and_order():
    a = filters.parse('target = "x" AND state = (RUNNING, PENDING)', jobs.FILTER_FIELDS)
    b = filters.parse("state=(pending,running) and target=x", jobs.FILTER_FIELDS)
    assert a.digest == b.digest
    c = filters.parse("state = PENDING", jobs.FILTER_FIELDS)
    assert c.digest != a.digest
    assert filters.parse("", jobs.FILTER_FIELDS).terms == ()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("state = DONE", "no value 'DONE'"),
        ("colour = red", "unknown field 'colour'"),
        ("state != PENDING", "does not take '!='"),
        ("state = PENDING OR kind = APPLY", "joined by AND"),
        ("create_time > 2026-13-01", "RFC 3339"),
        ("create_time > 2026-01-01T00:00:00", "time zone"),
        ("target = (a, b)", "one value"),
        ("state = (PENDING", "')'"),
        ("state = PENDING AND state = RUNNING", "appears twice"),
        ("state = ", "expected a value"),
        ("target = 'x'", "unexpected"),
        ("x" * 3000, "longer than"),
    ],
)
def test_filter_errors_say_what_is_wrong(text, words):
    with pytest.raises(errors.InvalidFilter) as caught:
        filters.parse(text, jobs.FILTER_FIELDS)
    assert words in caught.value.message
    assert caught.value.metadata["field"] == "filter"


def test_suggestion_filter_fields():
    job_id = uuid.uuid4()
    flt = filters.parse(
        f'job = "jobs/{job_id}" AND benchmarked = TRUE AND superseded = false',
        suggestions.FILTER_FIELDS,
    )
    assert flt.one("job") == job_id and flt.one("benchmarked") is True
    assert flt.one("superseded") is False
    with pytest.raises(errors.InvalidName):
        filters.parse('job = "jobs/x"', suggestions.FILTER_FIELDS)


def test_page_tokens_round_trip_and_are_bound_to_the_filter():
    position = (datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC), uuid.uuid4())
    token = pagination.encode(position, "abc")
    assert pagination.decode(token, "abc") == position
    assert pagination.decode("", "abc") is None
    with pytest.raises(errors.InvalidPageToken, match="another filter"):
        pagination.decode(token, "def")
    tampered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    for bad in (tampered, "not-a-token", "!!!"):
        with pytest.raises(errors.InvalidPageToken):
            pagination.decode(bad, "abc")


def test_page_size():
    assert pagination.page_size(0) == 50
    assert pagination.page_size(5000) == 1000
    with pytest.raises(errors.errors.InvalidArgument):
        pagination.page_size(-1)


def test_names():
    job_id, suggestion_id = uuid.uuid4(), uuid.uuid4()
    assert names.parse_job(f"jobs/{job_id}") == job_id
    assert names.parse_parent("jobs/-") is None
    assert names.parse_suggestion(f"jobs/{job_id}/suggestions/{suggestion_id}") == (
        job_id,
        suggestion_id,
    )
    for bad in ("jobs/", f"job/{job_id}", f"jobs/{job_id}/x", "jobs/" + "a" * 36):
        with pytest.raises(errors.InvalidName) as caught:
            names.parse_job(bad)
        assert caught.value.metadata["field"] == "name"
