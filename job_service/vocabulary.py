"""The job service's vocabulary: states, kinds and error reasons, and the one transition table.

Everything else derives from here: the CHECK constraints and partial-index predicates of
`job_service.models`, the `state IN (...)` guards of the repositories, the filter fields, the
gateway's set of finished states. The members are `StrEnum`s whose values are the proto enum
names, which is also what the database stores and the API shows, so a member compares equal
to (and formats as) the bare string: nothing stored or sent changes.

The table is the guarded statements' truth (tests/unit/job_service/test_vocabulary.py parses
every guarded UPDATE of the repositories and checks it against this table). Where the design
document and the code differ, the code won: a CANCELLING job may still end SUCCEEDED (its
outcome arrived before the cancel was seen) or FAILED; a ROLLBACK_FAILED suggestion may be
rolled back again; a change job that ended without a result settles its suggestion
APPLY_FAILED / ROLLBACK_FAILED. A takeover of an APPLY (ROLLBACK) job re-enters APPLYING
(ROLLING_BACK) from itself: not a move, so not in the table.

This module is the domain's: it imports nothing from the storage layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar


class JobState(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class JobKind(StrEnum):
    ANALYZE = "ANALYZE"
    BENCHMARK = "BENCHMARK"
    APPLY = "APPLY"
    ROLLBACK = "ROLLBACK"
    VERIFY = "VERIFY"


class SuggestionState(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    DISMISSED = "DISMISSED"
    APPLYING = "APPLYING"
    APPLIED = "APPLIED"
    APPLY_FAILED = "APPLY_FAILED"
    ROLLING_BACK = "ROLLING_BACK"
    ROLLED_BACK = "ROLLED_BACK"
    ROLLBACK_FAILED = "ROLLBACK_FAILED"


class SuggestionKind(StrEnum):
    CREATE_INDEX = "CREATE_INDEX"
    DROP_UNUSED_INDEX = "DROP_UNUSED_INDEX"
    DROP_DUPLICATE_INDEX = "DROP_DUPLICATE_INDEX"


class JobAction(StrEnum):
    """What moves a job: the name of the operation (and of its guarded statement)."""

    CLAIM = "claim"  # a runner takes it (runs.claim)
    CANCEL = "cancel"  # CancelJob (jobs.cancel)
    SUCCEED = "succeed"  # its stream delivered the outcome (runs.succeed)
    FAIL = "fail"  # the optimizer refused it, or the change did not happen (runs.finish)
    STOP = "stop"  # a cancelled run ended (runs.finish, requeue, reap, release)
    REQUEUE = "requeue"  # stream broke, lease lapsed, shutdown; FAILED after the last attempt
    RETRY = "retry"  # RetryJob (jobs.retry)


class SuggestionAction(StrEnum):
    """What moves a suggestion."""

    DECIDE = "decide"  # Approve/DismissSuggestion (suggestions.decide)
    EDIT = "edit"  # a changed statement sends an approval back (suggestions.update)
    APPLY = "apply"  # an APPLY job begins (changes: move)
    APPLIED = "applied"  # ... and ends with what pg_index holds
    ROLL_BACK = "roll_back"  # a ROLLBACK job begins
    ROLLED_BACK = "rolled_back"  # ... and ends
    SETTLE = "settle"  # its change job ended without a result (changes.settle_orphans)
    UNDO = "undo"  # a build was cancelled and what it left dropped: back where it was


_S = TypeVar("_S", bound=StrEnum)
_A = TypeVar("_A", bound=StrEnum)


@dataclass(frozen=True)
class Transition(Generic[_S, _A]):
    source: _S
    target: _S
    via: _A


class Lifecycle(Generic[_S, _A]):
    """A transition table and the sets the code guards with, derived from it."""

    def __init__(
        self, states: type[_S], initial: Iterable[_S], transitions: Iterable[Transition[_S, _A]]
    ) -> None:
        self.states = states
        self.initial = frozenset(initial)
        self.transitions = tuple(transitions)
        self.pairs = frozenset((t.source, t.target) for t in self.transitions)

    def allows(self, source: str, target: str) -> bool:
        return (source, target) in self.pairs

    def sources(self, *via: _A) -> tuple[_S, ...]:
        """The states the actions `via` may start from: their guard."""
        return self.ordered(t.source for t in self.transitions if t.via in via)

    def results(self, *via: _A) -> tuple[_S, ...]:
        """The states the actions `via` lead to (from any source)."""
        return self.ordered(t.target for t in self.transitions if t.via in via)

    def targets(self, source: str, *via: _A) -> tuple[_S, ...]:
        """Where `source` may go (by the actions `via`, or by any)."""
        return self.ordered(
            t.target for t in self.transitions if t.source == source and (not via or t.via in via)
        )

    def ordered(self, states: Iterable[str]) -> tuple[_S, ...]:
        """`states` in declaration order (stable SQL text for constraints and indexes)."""
        wanted = set(states)
        return tuple(s for s in self.states if s in wanted)


def _table(rows: Iterable[tuple[_A, _S, Iterable[_S]]]) -> list[Transition[_S, _A]]:
    """Rows of (action, target, sources) as one transition per source."""
    return [Transition(source, target, via) for via, target, sources in rows for source in sources]


_J = JobState
_JA = JobAction
JOBS: Lifecycle[JobState, JobAction] = Lifecycle(
    JobState,
    initial=(_J.PENDING,),
    transitions=_table(
        [
            (_JA.CLAIM, _J.RUNNING, (_J.PENDING,)),
            (_JA.CANCEL, _J.CANCELLED, (_J.PENDING,)),
            (_JA.CANCEL, _J.CANCELLING, (_J.RUNNING,)),
            # CANCELLING too: the outcome (or a refusal) may arrive before the cancel is seen.
            (_JA.SUCCEED, _J.SUCCEEDED, (_J.RUNNING, _J.CANCELLING)),
            (_JA.FAIL, _J.FAILED, (_J.RUNNING, _J.CANCELLING)),
            (_JA.STOP, _J.CANCELLED, (_J.CANCELLING,)),
            (_JA.REQUEUE, _J.PENDING, (_J.RUNNING,)),
            (_JA.REQUEUE, _J.FAILED, (_J.RUNNING,)),  # its last attempt was used
            (_JA.REQUEUE, _J.CANCELLED, (_J.CANCELLING,)),  # a cancel was asked meanwhile
            (_JA.RETRY, _J.PENDING, (_J.FAILED, _J.CANCELLED)),
        ]
    ),
)

_SS = SuggestionState
_SA = SuggestionAction
SUGGESTIONS: Lifecycle[SuggestionState, SuggestionAction] = Lifecycle(
    SuggestionState,
    # A new suggestion whose fingerprint already has a decision on its target arrives in
    # that decision's state, pointing at it (runs.add_suggestion).
    initial=tuple(SuggestionState),
    transitions=_table(
        [
            (_SA.DECIDE, _SS.APPROVED, (_SS.PENDING,)),
            (_SA.DECIDE, _SS.DISMISSED, (_SS.PENDING,)),
            (_SA.EDIT, _SS.PENDING, (_SS.APPROVED,)),
            (_SA.APPLY, _SS.APPLYING, (_SS.APPROVED, _SS.APPLY_FAILED, _SS.ROLLED_BACK)),
            (_SA.APPLIED, _SS.APPLIED, (_SS.APPLYING,)),
            (_SA.APPLIED, _SS.APPLY_FAILED, (_SS.APPLYING,)),
            (_SA.ROLL_BACK, _SS.ROLLING_BACK, (_SS.APPLIED, _SS.ROLLBACK_FAILED)),
            (_SA.ROLLED_BACK, _SS.ROLLED_BACK, (_SS.ROLLING_BACK,)),
            (_SA.ROLLED_BACK, _SS.ROLLBACK_FAILED, (_SS.ROLLING_BACK,)),
            (_SA.SETTLE, _SS.APPLY_FAILED, (_SS.APPLYING,)),
            (_SA.SETTLE, _SS.ROLLBACK_FAILED, (_SS.ROLLING_BACK,)),
            # A cancelled CREATE INDEX (an APPLY of a new index, a ROLLBACK recreating a
            # dropped one) is stopped and its index dropped: the change never happened.
            (_SA.UNDO, _SS.APPROVED, (_SS.APPLYING,)),
            (_SA.UNDO, _SS.APPLIED, (_SS.ROLLING_BACK,)),
        ]
    ),
)

# -- sets the code guards and filters with, all derived from the tables ----------------------

JOB_STATES: tuple[JobState, ...] = tuple(JobState)
JOB_KINDS: tuple[JobKind, ...] = tuple(JobKind)
SUGGESTION_STATES: tuple[SuggestionState, ...] = tuple(SuggestionState)
SUGGESTION_KINDS: tuple[SuggestionKind, ...] = tuple(SuggestionKind)
CHANGE_JOB_KINDS: tuple[JobKind, ...] = (JobKind.BENCHMARK, JobKind.APPLY, JobKind.ROLLBACK)
"""Kinds that carry one suggestion to a target (or a sandbox) and back: one live at a time."""
SUGGESTION_JOB_KINDS: tuple[JobKind, ...] = tuple(k for k in JobKind if k is not JobKind.ANALYZE)
"""Kinds that act on one suggestion (a VERIFY job only reads the target, so it waits out its
window beside any change job)."""
TARGET_CHANGE_KINDS: tuple[JobKind, ...] = (JobKind.APPLY, JobKind.ROLLBACK)
"""Kinds that change the target itself (and take change_options: build and lock timeouts)."""

FINISHED_JOB_STATES = JOBS.ordered(
    s for s in JobState if JOBS.targets(s) == JOBS.targets(s, _JA.RETRY)
)
"""No runner holds these and none will: the job ended (a RetryJob may start it again)."""
RETRYABLE_JOB_STATES = JOBS.sources(_JA.RETRY)
LIVE_JOB_STATES = JOBS.ordered(set(JobState) - set(FINISHED_JOB_STATES))
"""Not finished: waiting, or held by a runner."""
LEASED_JOB_STATES = JOBS.sources(_JA.SUCCEED, _JA.FAIL, _JA.STOP, _JA.REQUEUE)
"""Held by a runner's lease: every write of a run is guarded by `state IN (these)`."""
CANCELLABLE_JOB_STATES = JOBS.sources(_JA.CANCEL)

APPLICABLE_STATES = SUGGESTIONS.sources(_SA.APPLY)
ROLLBACKABLE_STATES = SUGGESTIONS.sources(_SA.ROLL_BACK)
DECIDABLE_STATES = SUGGESTIONS.sources(_SA.DECIDE)
EDITABLE_STATES = SUGGESTIONS.ordered({*DECIDABLE_STATES, *SUGGESTIONS.sources(_SA.EDIT)})
"""States whose statement a person may edit (an edit of an approved one sends it back)."""
DECIDED_STATES = SUGGESTIONS.ordered(set(SuggestionState) - set(DECIDABLE_STATES))
"""A decision a new suggestion with the same fingerprint on the same target points at."""
LIVE_SUGGESTION_STATES = (_SS.APPLYING, _SS.APPLIED, _SS.ROLLING_BACK, _SS.ROLLBACK_FAILED)
"""The change is (or may be) on the target: its job is never deleted (the way back), and
only one suggestion per (target, fingerprint) is in one of these."""
# Suggestions that were applied to their target (in place or not any more): the target
# page's "applied changes".
APPLIED_ONCE_STATES: tuple[SuggestionState, ...] = (
    _SS.APPLIED,
    _SS.ROLLING_BACK,
    _SS.ROLLED_BACK,
    _SS.ROLLBACK_FAILED,
)


class Verdict(StrEnum):
    """What a verification concluded (names match `pgsage.jobs.v1.Verdict`)."""

    IMPROVED = "IMPROVED"
    NO_EFFECT = "NO_EFFECT"
    REGRESSED = "REGRESSED"
    INCONCLUSIVE = "INCONCLUSIVE"


class OnRegression(StrEnum):
    """A target's policy for a REGRESSED verdict (the optimizer's target setting)."""

    NOTIFY = "notify"
    ROLLBACK = "rollback"


class SnapshotReason(StrEnum):
    """Why a workload snapshot was taken: the start (APPLY) or the end (VERIFY) of a
    verification window, or the job service's periodic watch of every target (PERIODIC)."""

    APPLY = "APPLY"
    VERIFY = "VERIFY"
    PERIODIC = "PERIODIC"


VERDICTS: tuple[Verdict, ...] = tuple(Verdict)
SNAPSHOT_REASONS: tuple[SnapshotReason, ...] = tuple(SnapshotReason)

POLICY_PRINCIPAL = "pgsage policy"
"""Who a target's policy acts as: the creator of a ROLLBACK job after a REGRESSED verdict."""


class ErrorReason(StrEnum):
    """The `google.rpc.ErrorInfo` reasons the job service sends (domain `pgsage.dev`).

    Stable API strings: clients branch on them. Generic ones (a bare status code name such as
    `INVALID_ARGUMENT`) stay in `pgsage.errors`.
    """

    # INVALID_ARGUMENT
    INVALID_NAME = "INVALID_NAME"
    INVALID_FILTER = "INVALID_FILTER"
    INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN"
    INVALID_STATEMENT = "INVALID_STATEMENT"
    INVALID_FIELD = "INVALID_FIELD"
    REQUIRED_FIELD_MISSING = "REQUIRED_FIELD_MISSING"
    # UNAUTHENTICATED
    CREDENTIALS_MISSING = "CREDENTIALS_MISSING"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_NOT_YET_VALID = "TOKEN_NOT_YET_VALID"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    # PERMISSION_DENIED
    TWO_PERSON_RULE = "TWO_PERSON_RULE"
    # NOT_FOUND
    JOB_NOT_FOUND = "JOB_NOT_FOUND"
    SUGGESTION_NOT_FOUND = "SUGGESTION_NOT_FOUND"
    API_TOKEN_NOT_FOUND = "API_TOKEN_NOT_FOUND"
    SCHEDULE_NOT_FOUND = "SCHEDULE_NOT_FOUND"
    TARGET_NOT_FOUND = "TARGET_NOT_FOUND"
    # ALREADY_EXISTS
    SUGGESTION_ALREADY_EXISTS = "SUGGESTION_ALREADY_EXISTS"
    # FAILED_PRECONDITION
    INVALID_STATE_TRANSITION = "INVALID_STATE_TRANSITION"
    JOB_NOT_DELETABLE = "JOB_NOT_DELETABLE"
    # ABORTED
    ETAG_MISMATCH = "ETAG_MISMATCH"
    # UNAVAILABLE
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    OPTIMIZER_UNAVAILABLE = "OPTIMIZER_UNAVAILABLE"
    IDENTITY_PROVIDER_UNAVAILABLE = "IDENTITY_PROVIDER_UNAVAILABLE"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    # A job's own error (`Job.error`), set by its runner.
    JOB_CANCELLED = "JOB_CANCELLED"
    LEASE_LAPSED = "LEASE_LAPSED"
    STREAM_ENDED_EARLY = "STREAM_ENDED_EARLY"
    OPTIMIZER_STREAM_BROKEN = "OPTIMIZER_STREAM_BROKEN"
    CHANGE_NOT_DONE = "CHANGE_NOT_DONE"
    SUGGESTION_CHANGED = "SUGGESTION_CHANGED"  # moved by someone else while its job ran
    # Webhooks (NOT_FOUND)
    WEBHOOK_NOT_FOUND = "WEBHOOK_NOT_FOUND"


class WebhookEventType(StrEnum):
    """What a webhook destination may be told (names match `pgsage.jobs.v1.WebhookEventType`)."""

    ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS = "ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS"
    JOB_FAILED = "JOB_FAILED"
    VERIFICATION_VERDICT = "VERIFICATION_VERDICT"
    REGRESSION = "REGRESSION"
    ROLLBACK_BY_POLICY = "ROLLBACK_BY_POLICY"
    PING = "PING"  # TestWebhook's, to one destination; never in an event filter


FILTERABLE_EVENT_TYPES: tuple[WebhookEventType, ...] = tuple(
    t for t in WebhookEventType if t is not WebhookEventType.PING
)


class WebhookFormat(StrEnum):
    GENERIC = "GENERIC"
    SLACK = "SLACK"


class DeliveryState(StrEnum):
    """A webhook delivery: PENDING (due, or waiting for a retry) → DELIVERED | FAILED."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
