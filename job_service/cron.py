"""Cron expressions of schedules: checked once when a schedule is written, then asked for
the next tick after a moment (croniter does the calendar arithmetic).

An expression has 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds
last, or is one of croniter's `@hourly`-style aliases; it is read in an IANA time zone (UTC
by default), so `0 3 * * *` in Europe/Paris stays 03:00 local across daylight saving time.
An expression that never fires (`0 0 30 2 *`) or fires more often than the service allows
(`min_interval`, one minute unless its settings say otherwise) is refused, naming the field.
"""

from __future__ import annotations

import itertools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from job_service import errors

MAX_CRON = 200
MAX_TIME_ZONE = 64
# How many consecutive ticks are looked at for the smallest gap between two of them: enough
# to see a burst (`* 0 * * *` fires 60 times in a row at midnight) behind a quiet stretch.
_GAPS_CHECKED = 64


@dataclass(frozen=True)
class Cron:
    """A checked cron expression in its time zone."""

    expression: str
    time_zone: str  # "" means UTC

    @property
    def zone(self) -> tzinfo:
        return zoneinfo.ZoneInfo(self.time_zone) if self.time_zone else UTC

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after `moment`, in UTC."""
        start = moment.astimezone(self.zone)
        tick = croniter(self.expression, start).get_next(datetime)
        return tick.astimezone(UTC)


def parse(expression: str, time_zone: str, *, min_interval: timedelta, field: str) -> Cron:
    """The expression as a `Cron`, or INVALID_ARGUMENT naming `<field>.cron` or
    `<field>.time_zone` and saying what is wrong."""
    text = " ".join(expression.split())
    cron_field, zone_field = f"{field}.cron", f"{field}.time_zone"
    if not text:
        raise errors.MissingField(cron_field)
    if len(text) > MAX_CRON or not text.isprintable():
        raise errors.InvalidField(cron_field, f"{cron_field} is up to {MAX_CRON} characters")
    zone = time_zone.strip()
    if zone.upper() == "UTC":
        zone = ""
    if zone:
        if len(zone) > MAX_TIME_ZONE:
            raise errors.InvalidField(zone_field, f"{zone_field} is an IANA time zone name")
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            raise errors.InvalidField(
                zone_field,
                f"{zone_field} {zone!r} is not an IANA time zone (such as Europe/Paris or UTC)",
            ) from None
    fields = text.split()
    if not text.startswith("@") and len(fields) not in (5, 6):
        raise errors.InvalidField(
            cron_field,
            f"{cron_field} has {len(fields)} fields; a cron expression has 5 (minute hour "
            "day-of-month month day-of-week) or 6 (with seconds last)",
        )
    cron = Cron(text, zone)
    try:
        if not croniter.is_valid(text):
            raise CroniterBadCronError(text)
        ticks = [cron.next_after(datetime.now(UTC))]
        for _ in range(_GAPS_CHECKED):
            ticks.append(cron.next_after(ticks[-1]))
    except CroniterBadDateError:
        raise errors.InvalidField(
            cron_field, f"{cron_field} {text!r} never fires (no date matches it)"
        ) from None
    except (CroniterError, ValueError, KeyError, OverflowError):
        raise errors.InvalidField(
            cron_field, f"{cron_field} {text!r} is not a valid cron expression"
        ) from None
    gap = min(later - earlier for earlier, later in itertools.pairwise(ticks))
    if gap < min_interval:
        raise errors.InvalidField(
            cron_field,
            f"{cron_field} {text!r} fires every {_words(gap)}; schedules run at most once "
            f"every {_words(min_interval)}",
        )
    return cron


def _words(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
