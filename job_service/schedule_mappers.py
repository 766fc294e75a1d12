"""Protobuf ⇄ domain conversion of schedules: the `Schedule` message a caller sees, and the
settings a Create or Update request asks for, validated (INVALID_ARGUMENT naming the field).

Whether the target exists is the optimizer's to say; the handler asks it
(`job_service.schedule_handlers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from job_service import cron, errors, mappers, names, schedules
from pgsage.jobs.v1 import job_pb2, schedule_pb2

MAX_DISPLAY_NAME = 100
MAX_REQUEST_ID = 128
# What UpdateSchedule may change; an empty mask means those the request sets.
UPDATABLE = ("display_name", "target", "cron", "time_zone", "analysis_types", "options")


def to_proto(s: schedules.Schedule) -> schedule_pb2.Schedule:
    message = schedule_pb2.Schedule(
        name=s.name,
        display_name=s.display_name,
        target=s.target,
        cron=s.cron,
        time_zone=s.time_zone or "UTC",
        analysis_types=[job_pb2.AnalysisType.Value(t) for t in s.analysis_types],
        paused=s.paused,
        last_job=names.job_name(s.last_job_id) if s.last_job_id else "",
        creator=s.creator,
        etag=s.etag,
    )
    if s.options:
        message.options.ParseFromString(s.options)
    for field, value in (
        (message.next_run_time, s.next_run_time),
        (message.last_run_time, s.last_run_time),
        (message.create_time, s.create_time),
        (message.update_time, s.update_time),
    ):
        if value is not None:
            field.FromDatetime(value)
    return message


def settings_of(
    given: schedule_pb2.Schedule, *, min_interval: timedelta, field: str = "schedule"
) -> tuple[schedules.Settings, cron.Cron]:
    """The settings `given` asks for, validated, with its parsed cron expression."""
    display_name = given.display_name.strip()
    if len(display_name) > MAX_DISPLAY_NAME or not display_name.isprintable():
        raise errors.InvalidField(
            f"{field}.display_name",
            f"{field}.display_name is up to {MAX_DISPLAY_NAME} printable characters",
        )
    target = given.target.strip()
    if not target:
        raise errors.MissingField(f"{field}.target")
    if len(target) > mappers.MAX_TARGET or not target.isprintable():
        raise errors.InvalidField(
            f"{field}.target",
            f"{field}.target is a target's name: printable, up to {mappers.MAX_TARGET} characters",
        )
    parsed = cron.parse(given.cron, given.time_zone, min_interval=min_interval, field=field)
    mappers.check_analysis_options(given.analysis_types, given.options, prefix=field)
    types = tuple(dict.fromkeys(job_pb2.AnalysisType.Name(t) for t in given.analysis_types))
    options = given.options.SerializeToString() if given.HasField("options") else b""
    return (
        schedules.Settings(
            display_name=display_name,
            target=target,
            cron=parsed.expression,
            time_zone=parsed.time_zone,
            analysis_types=types,
            options=options or None,
        ),
        parsed,
    )


def merged(
    current: schedules.Schedule, given: schedule_pb2.Schedule, paths: Sequence[str]
) -> schedule_pb2.Schedule:
    """`current` with the fields of `paths` taken from `given` (an UpdateSchedule)."""
    result = to_proto(current)
    if not paths:  # AIP-134: no mask means the fields the request sets
        paths = [
            f
            for f in UPDATABLE
            if (given.HasField(f) if f == "options" else bool(getattr(given, f)))
        ]
    for path in paths:
        if path not in UPDATABLE:
            raise errors.InvalidField(
                "update_mask",
                f"update_mask names {path!r}; a schedule's updatable fields are "
                + ", ".join(UPDATABLE)
                + " (pause and resume have methods of their own)",
            )
        if path == "options":
            result.ClearField("options")
            if given.HasField("options"):
                result.options.CopyFrom(given.options)
        elif path == "analysis_types":
            del result.analysis_types[:]
            result.analysis_types.extend(given.analysis_types)
        else:
            setattr(result, path, getattr(given, path))
    return result
