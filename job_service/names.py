"""Resource names of the job service: `jobs/{job}`, `jobs/{job}/suggestions/{suggestion}` and
`schedules/{schedule}`."""

from __future__ import annotations

import uuid

from job_service import errors

JOB_PATTERN = "jobs/{uuid}"
SUGGESTION_PATTERN = "jobs/{uuid}/suggestions/{uuid}"
ALL_JOBS = "jobs/-"


def _uuid(text: str) -> uuid.UUID | None:
    if len(text) != 36:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def job_name(job_id: uuid.UUID) -> str:
    return f"jobs/{job_id}"


def suggestion_name(job_id: uuid.UUID, suggestion_id: uuid.UUID) -> str:
    return f"jobs/{job_id}/suggestions/{suggestion_id}"


def parse_job(name: str, field: str = "name") -> uuid.UUID:
    """The job id in `jobs/{uuid}`; INVALID_ARGUMENT naming `field` otherwise."""
    parts = name.split("/")
    job_id = _uuid(parts[1]) if len(parts) == 2 and parts[0] == "jobs" else None
    if job_id is None:
        raise errors.InvalidName(field, name, JOB_PATTERN)
    return job_id


def parse_parent(name: str, field: str = "parent") -> uuid.UUID | None:
    """A list's parent: a job id, or None for every job (`jobs/-`)."""
    if name == ALL_JOBS:
        return None
    return parse_job(name, field)


def parse_suggestion(name: str, field: str = "name") -> tuple[uuid.UUID, uuid.UUID]:
    """(job id, suggestion id) of `jobs/{uuid}/suggestions/{uuid}`."""
    parts = name.split("/")
    if len(parts) == 4 and parts[0] == "jobs" and parts[2] == "suggestions":
        job_id, suggestion_id = _uuid(parts[1]), _uuid(parts[3])
        if job_id is not None and suggestion_id is not None:
            return job_id, suggestion_id
    raise errors.InvalidName(field, name, SUGGESTION_PATTERN)


SCHEDULE_PATTERN = "schedules/{uuid}"


def schedule_name(schedule_id: uuid.UUID) -> str:
    return f"schedules/{schedule_id}"


def parse_schedule(name: str, field: str = "name") -> uuid.UUID:
    """The schedule id in `schedules/{uuid}`; INVALID_ARGUMENT naming `field` otherwise."""
    parts = name.split("/")
    schedule_id = _uuid(parts[1]) if len(parts) == 2 and parts[0] == "schedules" else None
    if schedule_id is None:
        raise errors.InvalidName(field, name, SCHEDULE_PATTERN)
    return schedule_id
