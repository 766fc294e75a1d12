"""The job service's domain objects: small frozen dataclasses the repositories return.

States and kinds are the proto enum names as text (they are stored that way too); their
vocabulary and transition table are `job_service.vocabulary`'s. Nested
protobuf parts (options, summary, error, suggestion details) stay serialized bytes here;
`job_service.mappers` turns them into messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from job_service import errors, names, vocabulary
from job_service.vocabulary import JobKind, SuggestionState

# -- vocabulary (one block: the sets come from the transition table) -------------------------
TERMINAL_JOB_STATES = frozenset(vocabulary.FINISHED_JOB_STATES)
RETRYABLE_JOB_STATES = frozenset(vocabulary.RETRYABLE_JOB_STATES)
LIVE_SUGGESTIONS = frozenset(vocabulary.LIVE_SUGGESTION_STATES)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    kind: str
    state: str
    target: str
    revision: int
    create_time: datetime
    update_time: datetime
    analysis_types: Sequence[str] = ()
    options: bytes | None = None
    queries: Sequence[str] = ()
    suggestion_job_id: uuid.UUID | None = None
    suggestion_id: uuid.UUID | None = None
    progress_stage: str = ""
    progress_percent: float = 0.0
    progress_message: str = ""
    query_count: int = 0
    insight_count: int = 0
    suggestion_count: int = 0
    statistics_start_time: datetime | None = None
    statistics_end_time: datetime | None = None
    summary: bytes | None = None
    error: bytes | None = None
    attempt: int = 0
    max_attempts: int = 1
    lease_owner: str | None = None
    lease_expire_time: datetime | None = None
    cancel_requested: bool = False
    start_time: datetime | None = None
    end_time: datetime | None = None
    expire_time: datetime | None = None
    request_id: str | None = None
    creator: str = ""
    run_after: datetime | None = None  # a PENDING job is not claimed before this time
    schedule_id: uuid.UUID | None = None  # the schedule that created it, and its tick
    schedule_time: datetime | None = None

    @classmethod
    def from_values(cls, values: Sequence[object]) -> Job:
        """A Job from its field values in declaration order, without the generated
        `__init__` (frozen, it costs ~5 µs for these 31 fields; a list page maps 50)."""
        job = object.__new__(cls)
        job.__dict__.update(zip(_JOB_FIELDS, values, strict=True))
        return job

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_JOB_STATES

    @property
    def etag(self) -> str:
        return etag_of(self.revision)


_JOB_FIELDS = tuple(Job.__dataclass_fields__)


@dataclass(frozen=True)
class JobEvent:
    """One change of a job: its revision after the change and the job as it then was."""

    job_id: uuid.UUID
    revision: int
    event_type: str
    event_time: datetime
    job: Job
    suggestion_id: uuid.UUID | None = None


@dataclass(frozen=True)
class NewJob:
    """What CreateJob asks for, validated."""

    kind: str
    target: str
    analysis_types: tuple[str, ...] = ()
    options: bytes | None = None
    queries: tuple[str, ...] = ()
    suggestion_job_id: uuid.UUID | None = None
    suggestion_id: uuid.UUID | None = None
    request_id: str | None = None
    max_attempts: int = 3
    creator: str = ""
    run_after: datetime | None = None


@dataclass(frozen=True)
class Suggestion:
    id: uuid.UUID
    job_id: uuid.UUID
    kind: str
    state: str
    target: str
    fingerprint: str
    sql: str
    version: int
    create_time: datetime
    update_time: datetime
    title: str = ""
    rollback_sql: str = ""
    edited_sql: str | None = None
    edited_rollback_sql: str | None = None
    notes: str = ""
    dismiss_reason: str = ""
    details: bytes | None = None
    attempt: int = 1
    superseded: bool = False
    prior_decision: str = ""
    benchmarks: tuple[bytes, ...] = ()
    failure_reason: str = ""
    applied_index_oid: int | None = None  # the index pgsage's APPLY built (its OID)
    applied_index_definition: str = ""  # ... and its pg_get_indexdef
    dropped_index_definition: str = ""  # the index pgsage's APPLY dropped
    # Who approved it (subject, display name): the two-person rule compares the subject.
    approver_subject: str | None = None
    approver_name: str | None = None
    # The latest verification of its last APPLY (pgsage.jobs.v1.Verification) and its verdict.
    verdict: str | None = None
    verification: bytes | None = None
    # The previous analysis of the target did not make it (`job_service.comparisons`).
    new_since_last_analysis: bool = False

    @property
    def etag(self) -> str:
        return etag_of(self.version)


@dataclass(frozen=True)
class NewSuggestion:
    """A suggestion as an analysis produced it (the dispatcher and tests store these)."""

    kind: str
    target: str
    fingerprint: str
    sql: str
    rollback_sql: str = ""
    title: str = ""
    details: bytes | None = None
    attempt: int = 1
    state: str = SuggestionState.PENDING
    prior_decision: str = ""
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class Page:
    """One page of a list and the keyset position after its last item (None: no more)."""

    items: tuple
    next_position: tuple[datetime, uuid.UUID] | None


def etag_of(version: int) -> str:
    """The etag of a resource at `version` (a job's revision, a suggestion's version)."""
    return str(version)


def version_of_etag(etag: str) -> int | None:
    """The version an etag names, or None when it is not one of ours (never matches)."""
    text = etag.strip().removeprefix("W/").strip('"')
    return int(text) if text.isdigit() and len(text) < 19 else None


# -- when a change job may start (CreateJob's preconditions) ---------------------------------


def check_can_start(kind: str, s: Suggestion) -> None:
    """FAILED_PRECONDITION (InvalidStateTransition) unless a `kind` job may act on `s` as
    it is; what other rows say (a live change job, an applied twin) the caller looks up
    (`job_service.changes.check_no_conflict`)."""
    name = names.suggestion_name(s.job_id, s.id)
    if kind == JobKind.BENCHMARK:
        # New indexes are built in the sandbox; drops are measured with the index dropped
        # inside a rolled-back transaction. Either way the suggestion's state stays.
        if s.state == SuggestionState.DISMISSED:
            raise errors.InvalidStateTransition(name, s.state, "benchmark", why="it was dismissed")
    elif kind == JobKind.APPLY:
        if s.state not in vocabulary.APPLICABLE_STATES:
            raise errors.InvalidStateTransition(
                name,
                s.state,
                "apply",
                why="only an APPROVED (or APPLY_FAILED, ROLLED_BACK) suggestion is applied",
            )
        if s.superseded:
            raise errors.InvalidStateTransition(
                name, "superseded", "apply", why="a later attempt of its job did not reach it"
            )
    elif kind == JobKind.VERIFY and s.state != SuggestionState.APPLIED:
        raise errors.InvalidStateTransition(
            name,
            s.state,
            "verify",
            why="only an APPLIED suggestion is verified (its change is on the target)",
        )
    elif kind == JobKind.ROLLBACK and s.state not in vocabulary.ROLLBACKABLE_STATES:
        raise errors.InvalidStateTransition(
            name,
            s.state,
            "roll back",
            why="only an APPLIED (or ROLLBACK_FAILED) suggestion is rolled back",
        )
