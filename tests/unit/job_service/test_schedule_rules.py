"""The pure rules behind schedules: reading a cron expression in its time zone, and what a
comparison of two analyses calls new, gone, changed and unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from job_service import comparisons, cron
from pgsage import errors

MINUTE = timedelta(minutes=1)


def test_a_local_cron_keeps_its_local_hour_across_daylight_saving_time():
    nightly = cron.parse("0 3 * * *", "Europe/Paris", min_interval=MINUTE, field="schedule")
    winter = nightly.next_after(datetime(2026, 1, 10, 12, tzinfo=UTC))
    summer = nightly.next_after(datetime(2026, 7, 10, 12, tzinfo=UTC))
    assert (winter.hour, summer.hour) == (2, 1)  # 03:00 at UTC+1, then at UTC+2
    assert winter.tzinfo is not None and winter.utcoffset() == timedelta(0)


def test_next_after_is_strictly_after_and_seconds_come_last():
    every_ten_seconds = cron.parse(
        "* * * * * */10", "", min_interval=timedelta(seconds=10), field="schedule"
    )
    on_tick = datetime(2026, 3, 1, 12, 0, 10, tzinfo=UTC)
    assert every_ten_seconds.next_after(on_tick) == on_tick + timedelta(seconds=10)
    assert cron.parse("@hourly", "UTC", min_interval=MINUTE, field="s").time_zone == ""


@pytest.mark.parametrize(
    ("expression", "zone", "field", "words"),
    [
        ("", "", "schedule.cron", "required"),
        ("*/5 * * *", "", "schedule.cron", "has 4 fields"),
        ("0 0 31 2 *", "", "schedule.cron", "never fires"),
        ("*/10 * * * * *", "", "schedule.cron", "fires every 1 s"),
        ("* 0 * * *", "", "schedule.cron", "fires every 1 min"),
        ("0 3 * * *", "Europe/Atlantis", "schedule.time_zone", "not an IANA time zone"),
    ],
)
def test_what_a_cron_expression_may_not_be(expression, zone, field, words):
    with pytest.raises(errors.InvalidArgument) as caught:
        cron.parse(expression, zone, min_interval=timedelta(minutes=5), field="schedule")
    assert caught.value.field == field and words in caught.value.message, caught.value.message


def _found(fp: str, improvement: float = 10.0, size: int = 1000) -> comparisons.Found:
    return comparisons.Found(fp, f"jobs/j/suggestions/{fp}", f"title {fp}", "CREATE_INDEX",
                             improvement, size)  # fmt: skip


def test_a_comparison_sorts_suggestions_by_fingerprint_into_new_gone_changed_unchanged():
    previous = [_found("a"), _found("b"), _found("c"), _found("d", size=0)]
    current = [
        _found("a", improvement=10.9, size=1099),  # drift below both thresholds
        _found("b", improvement=11.0),  # one point more: changed
        _found("d", size=10),  # had no size, has one now: changed
        _found("e"),
    ]
    result = comparisons.compare(previous, current, "jobs/previous")
    assert result.previous_job == "jobs/previous"
    assert list(result.new_fingerprints) == ["e"] and result.new_count == 1
    assert [g.fingerprint for g in result.gone] == ["c"] and result.gone[0].title == "title c"
    assert [c.fingerprint for c in result.changed] == ["b", "d"]
    assert (
        result.changed[0].previous_improvement_percent,
        result.changed[0].improvement_percent,
    ) == (10.0, 11.0)
    assert (result.changed_count, result.unchanged_count) == (2, 1)


def test_a_size_moving_by_a_tenth_is_a_changed_estimate():
    result = comparisons.compare([_found("a", size=1000)], [_found("a", size=1100)])
    assert result.changed_count == 1 and result.new_count == result.gone_count == 0
