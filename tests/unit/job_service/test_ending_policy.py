"""The ending policy, combination by combination: how the stream ended x cancel asked x
lease held x attempt (last or not) → what the job becomes."""

from __future__ import annotations

import itertools

import grpc
import pytest
from google.rpc import code_pb2

from job_service.ending import RETRYABLE, Action, Ended, Outcome, StreamEnd, decide

S = grpc.StatusCode
ALL_CODES = [c for c in S if c is not S.OK]

# Every way a stream can end that the policy distinguishes.
ENDS: dict[str, Ended] = {
    "completed": Ended(StreamEnd.COMPLETED, started=True),
    "no outcome": Ended(StreamEnd.NO_OUTCOME, started=True),
    "call cancelled": Ended(StreamEnd.CANCELLED, started=True),
    "stopping": Ended(StreamEnd.STOPPING, started=True),
    "unavailable before start": Ended(StreamEnd.BROKE, S.UNAVAILABLE),
    "unavailable before start, optimizer's reason": Ended(
        StreamEnd.BROKE, S.UNAVAILABLE, reason="TARGET_UNAVAILABLE", detail="target gone"
    ),
    "unavailable after start": Ended(StreamEnd.BROKE, S.UNAVAILABLE, detail="x", started=True),
    "target gone after start": Ended(
        StreamEnd.BROKE, S.UNAVAILABLE, reason="TARGET_UNAVAILABLE", detail="gone", started=True
    ),
    "deadline before start": Ended(StreamEnd.BROKE, S.DEADLINE_EXCEEDED),
    "deadline after start": Ended(StreamEnd.BROKE, S.DEADLINE_EXCEEDED, started=True),
    "internal after start": Ended(StreamEnd.BROKE, S.INTERNAL, started=True),
    "build timeout after start": Ended(
        StreamEnd.BROKE, S.DEADLINE_EXCEEDED, reason="BUILD_TIMEOUT", detail="ran 2 s", started=True
    ),
    "refused (not found)": Ended(
        StreamEnd.BROKE, S.NOT_FOUND, reason="TARGET_NOT_FOUND", detail="no target 'x'"
    ),
    "refused (invalid argument) after start": Ended(
        StreamEnd.BROKE, S.INVALID_ARGUMENT, reason="BAD_OPTION", started=True
    ),
}

# (stream end, cancel asked) → action, when the lease is held; RETRY turns FAILED on the
# last attempt.
EXPECTED: dict[tuple[str, bool], Action] = {
    ("completed", False): Action.FINISH,
    ("completed", True): Action.FINISH,  # the outcome arrived before the cancel landed
    ("no outcome", False): Action.RETRY,
    ("no outcome", True): Action.CANCEL,
    ("call cancelled", False): Action.GIVE_BACK,  # its channel closed: this process stops
    ("call cancelled", True): Action.CANCEL,
    ("stopping", False): Action.GIVE_BACK,
    ("stopping", True): Action.GIVE_BACK,  # the hand-back ends it CANCELLED
    ("unavailable before start", False): Action.REQUEUE_FREE,
    ("unavailable before start", True): Action.CANCEL,
    # The target restarting (or failing over) uses no attempt, before or during the stream.
    ("unavailable before start, optimizer's reason", False): Action.REQUEUE_FREE,
    ("unavailable before start, optimizer's reason", True): Action.CANCEL,
    ("unavailable after start", False): Action.RETRY,
    ("unavailable after start", True): Action.CANCEL,
    ("target gone after start", False): Action.REQUEUE_FREE,
    ("target gone after start", True): Action.CANCEL,
    ("deadline before start", False): Action.RETRY,  # reached, but it took too long
    ("deadline before start", True): Action.CANCEL,
    ("deadline after start", False): Action.RETRY,
    ("deadline after start", True): Action.CANCEL,
    ("internal after start", False): Action.RETRY,
    ("internal after start", True): Action.CANCEL,
    # Another attempt would build as long: the job fails at once, saying so.
    ("build timeout after start", False): Action.FAIL,
    ("build timeout after start", True): Action.CANCEL,
    ("refused (not found)", False): Action.FAIL,
    ("refused (not found)", True): Action.CANCEL,
    ("refused (invalid argument) after start", False): Action.FAIL,
    ("refused (invalid argument) after start", True): Action.CANCEL,
}

STATE = {
    Action.FINISH: None,  # the outcome says (the strategy finishes it)
    Action.CANCEL: "CANCELLED",
    Action.FAIL: "FAILED",
    Action.REQUEUE_FREE: "PENDING",
    Action.LEASE_LOST: None,
}


def test_the_table_covers_every_combination():
    assert set(EXPECTED) == set(itertools.product(ENDS, (False, True)))


@pytest.mark.parametrize(
    ("end", "cancel", "lease", "attempt"),
    list(itertools.product(ENDS, (False, True), (False, True), (1, 2, 3))),
)
def test_every_combination(end: str, cancel: bool, lease: bool, attempt: int):
    out = decide(
        ENDS[end],
        cancel_requested=cancel,
        lease_held=lease,
        attempt=attempt,
        max_attempts=3,
        optimizer="127.0.0.1:1",
    )
    if not lease:
        # Whatever else happened, a run without its lease writes nothing more.
        assert out == Outcome(Action.LEASE_LOST, None)
        return
    action = EXPECTED[(end, cancel)]
    assert out.action is action, (end, cancel, attempt, out)
    if action is Action.RETRY:
        assert out.state == ("FAILED" if attempt == 3 else "PENDING")
    elif action is Action.GIVE_BACK:
        assert out.state == ("CANCELLED" if cancel else "PENDING")
    else:
        assert out.state == STATE[action]
    if action in (Action.RETRY, Action.FAIL, Action.CANCEL, Action.REQUEUE_FREE):
        assert out.reason and out.code != code_pb2.OK, out


def test_the_reasons_say_what_happened():
    def one(ended: Ended, attempt: int = 1) -> Outcome:
        return decide(
            ended,
            cancel_requested=False,
            lease_held=True,
            attempt=attempt,
            max_attempts=2,
            outcome="summary",
            optimizer="10.0.0.1:50052",
        )

    unreached = one(ENDS["unavailable before start"])
    assert unreached.reason == "OPTIMIZER_UNAVAILABLE" and "10.0.0.1:50052" in unreached.message
    early = one(ENDS["no outcome"], attempt=2)
    assert (early.state, early.reason) == ("FAILED", "STREAM_ENDED_EARLY")
    assert "before its summary" in early.message
    # The optimizer's own reason is kept; without one the stream "broke".
    own = one(ENDS["unavailable before start, optimizer's reason"])
    assert own.reason == "TARGET_UNAVAILABLE" and "target gone" in own.message
    assert one(ENDS["internal after start"]).reason == "OPTIMIZER_STREAM_BROKEN"
    assert one(ENDS["deadline after start"]).code == code_pb2.DEADLINE_EXCEEDED
    refused = one(ENDS["refused (not found)"])
    assert (refused.code, refused.reason, refused.message) == (
        code_pb2.NOT_FOUND,
        "TARGET_NOT_FOUND",
        "no target 'x'",
    )


@pytest.mark.parametrize("code", ALL_CODES, ids=lambda c: c.name)
def test_each_status_before_the_stream_started(code: grpc.StatusCode):
    """Only UNAVAILABLE before any event gives the attempt back; the other retryable
    statuses use one; the rest fail the job at once."""
    out = decide(
        Ended(StreamEnd.BROKE, code),
        cancel_requested=False,
        lease_held=True,
        attempt=1,
        max_attempts=3,
    )
    if code is S.UNAVAILABLE:
        assert out.action is Action.REQUEUE_FREE
    elif code in RETRYABLE:
        assert (out.action, out.state) == (Action.RETRY, "PENDING")
    else:
        assert (out.action, out.state) == (Action.FAIL, "FAILED")
