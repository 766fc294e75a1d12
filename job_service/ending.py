"""The ending policy: what a run of any job becomes once its optimizer stream is over.

A pure function of how the stream ended, whether a cancel was asked for, whether this
process still holds the lease, and the attempt, so the rules of DESIGN.md (Lifecycles) can be
read (and tested) in one place rather than in the branches of the runner:

- the lease is gone (this process stalled and was taken over) → stop writing; the new owner
  or the reaper settles the job;
- this process is stopping (its task was cancelled, or the optimizer channel closed under the
  stream) → the job is given back at once, PENDING, no attempt used;
- the stream's outcome arrived (an analysis's summary, a change's result) → the runner
  finishes the job with it (SUCCEEDED, or what the change's result says);
- a cancel was asked for → CANCELLED, what was streamed stays;
- the optimizer could not be reached (UNAVAILABLE before any event) → back to PENDING after
  a backoff, the attempt given back: jobs wait for the optimizer, they do not burn attempts;
- the target went away (UNAVAILABLE with the optimizer's TARGET_UNAVAILABLE, before or during
  the stream: a restart, a failover) → the same: the job waits for its target (a change job
  is safe to run again: its next attempt reads `pg_index` first);
- the stream ended without its outcome, or broke with a retryable status (deadline included)
  → PENDING after a backoff, the attempt used; FAILED with that reason after the last one;
- the optimizer refused the request (a status that is not retryable), or the change ran past
  its build timeout (another attempt would too) → FAILED with it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import grpc
from google.rpc import code_pb2

from job_service.vocabulary import ErrorReason, JobState
from pgsage import errors as pgsage_errors

# Statuses of a started stream worth another attempt (the optimizer or its target hiccuped).
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.CANCELLED,
    }
)
# Statuses that, before the first event and without a reason of the optimizer's own, mean
# the optimizer was never reached: the attempt is given back.
UNREACHED = frozenset({grpc.StatusCode.UNAVAILABLE})
# The optimizer's reason for a target that cannot be reached (optimizer_service.errors).
TARGET_GONE = "TARGET_UNAVAILABLE"
# Reasons of a retryable status that another attempt would meet again: a change statement
# that ran past its build timeout would run as long the next time.
NOT_RETRIED = frozenset({"BUILD_TIMEOUT"})


class StreamEnd(enum.StrEnum):
    """How a run's stream ended."""

    COMPLETED = "COMPLETED"  # the outcome (summary, change result) arrived
    NO_OUTCOME = "NO_OUTCOME"  # the stream ended cleanly without it
    BROKE = "BROKE"  # the call ended with a status (a deadline is DEADLINE_EXCEEDED)
    CANCELLED = "CANCELLED"  # the call was cancelled (by this run, or its channel closed)
    STOPPING = "STOPPING"  # this process stops: the run's task was cancelled


class Action(enum.StrEnum):
    """What the runner does with the job."""

    FINISH = "FINISH"  # store the outcome (the job ends as the outcome says)
    FAIL = "FAIL"  # FAILED with the reason
    CANCEL = "CANCEL"  # CANCELLED
    RETRY = "RETRY"  # PENDING after a backoff, attempt used (FAILED after the last one)
    REQUEUE_FREE = "REQUEUE_FREE"  # PENDING after a backoff, attempt given back
    GIVE_BACK = "GIVE_BACK"  # PENDING at once, attempt given back (this process stops)
    LEASE_LOST = "LEASE_LOST"  # write nothing more: the job is someone else's


@dataclass(frozen=True)
class Ended:
    """How the stream ended, as the runner saw it."""

    how: StreamEnd
    code: grpc.StatusCode | None = None  # for BROKE
    reason: str = ""  # the ErrorInfo reason the optimizer gave, if any
    detail: str = ""  # the status message
    started: bool = False  # at least one event arrived


@dataclass(frozen=True)
class Outcome:
    action: Action
    # The job's state once the runner has acted (None: not this run's to say).
    state: JobState | None
    code: int = code_pb2.OK
    reason: str = ""
    message: str = ""


def decide(
    ended: Ended,
    *,
    cancel_requested: bool,
    lease_held: bool,
    attempt: int,
    max_attempts: int,
    outcome: str = "outcome",
    optimizer: str = "",
) -> Outcome:
    """The outcome of a run whose stream `ended` (see the module docstring).

    `outcome` names what the stream delivers ("summary", "result"), `optimizer` its
    address, both for the messages.
    """
    if not lease_held:
        return Outcome(Action.LEASE_LOST, None)
    if ended.how is StreamEnd.STOPPING or (
        ended.how is StreamEnd.CANCELLED and not cancel_requested
    ):
        # The hand-back's statement ends a job whose cancel was asked CANCELLED.
        return Outcome(
            Action.GIVE_BACK, JobState.CANCELLED if cancel_requested else JobState.PENDING
        )
    if ended.how is StreamEnd.COMPLETED:
        return Outcome(Action.FINISH, None)
    if cancel_requested:
        return Outcome(
            Action.CANCEL,
            JobState.CANCELLED,
            code_pb2.CANCELLED,
            ErrorReason.JOB_CANCELLED,
            "the job was cancelled",
        )
    last = attempt >= max_attempts

    def retry(code: int, reason: str, message: str) -> Outcome:
        state = JobState.FAILED if last else JobState.PENDING
        return Outcome(Action.RETRY, state, code, reason, message)

    if ended.how is StreamEnd.NO_OUTCOME:
        return retry(
            code_pb2.UNAVAILABLE,
            ErrorReason.STREAM_ENDED_EARLY,
            f"the optimizer's stream ended before its {outcome}",
        )
    code = ended.code or grpc.StatusCode.UNKNOWN
    if code not in RETRYABLE or ended.reason in NOT_RETRIED:
        return Outcome(Action.FAIL, JobState.FAILED, code.value[0], ended.reason, ended.detail)
    if code in UNREACHED and not ended.started and not ended.reason:
        return Outcome(
            Action.REQUEUE_FREE,
            JobState.PENDING,
            code_pb2.UNAVAILABLE,
            ErrorReason.OPTIMIZER_UNAVAILABLE,
            f"the optimizer at {optimizer or '(not configured)'} cannot be reached "
            f"({code.name}); the job waits for it",
        )
    if code in UNREACHED and ended.reason == TARGET_GONE:
        return Outcome(
            Action.REQUEUE_FREE,
            JobState.PENDING,
            code_pb2.UNAVAILABLE,
            TARGET_GONE,
            f"{ended.detail}; the job waits for its target"[:900],
        )
    return retry(
        code.value[0],
        ended.reason or ErrorReason.OPTIMIZER_STREAM_BROKEN,
        f"the optimizer's stream broke: {code.name}: {ended.detail}"[:900],
    )


def make_status(code: int, reason: str, message: str) -> bytes:
    """A serialized `google.rpc.Status` with an `ErrorInfo`, for `job.error`."""
    error = pgsage_errors.PgsageError(message, reason=reason)
    status = error.to_status()
    status.code = code
    return status.SerializeToString()
