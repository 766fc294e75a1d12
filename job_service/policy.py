"""A target's policy on a verdict, and the events a verdict raises.

`act` runs in the VERIFY job's final transaction. A REGRESSED verdict on a target whose
optimizer configuration says `on_regression = "rollback"` creates a ROLLBACK job on behalf
of the "pgsage policy" principal (its creator, so every statement the rollback runs is
audited on its behalf), audited as `job.create.rollback` by that principal with the
verdict's reason attached. A rollback that cannot be created (the suggestion moved on, a
change job is already live) is recorded as the policy's action instead, never an error.
With `on_regression = "notify"` the change stays and the verdict is announced.

`announce` is the seam for notifications: it is called in the same transaction for every
verdict (VERIFICATION_VERDICT), for a REGRESSED one (REGRESSION) and for a rollback the
policy created (ROLLBACK_BY_POLICY): it logs one line and queues the event for the webhook
destinations that want it (`webhooks.emit`, in the transaction that made the decision, so a
verdict that does not commit is never announced). The VERIFY job's `verdict` event
(job_event, WatchJob) and the suggestion's verdict are the durable record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from job_service import audit, changes, domain, errors, jobs, names, webhooks
from job_service.database import Connection
from job_service.vocabulary import (
    POLICY_PRINCIPAL,
    JobKind,
    OnRegression,
    SuggestionState,
    Verdict,
)
from pgsage.jobs.v1 import verification_pb2 as vpb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One thing people may want to be told about (names of the webhook event types)."""

    type: str  # VERIFICATION_VERDICT, REGRESSION, ROLLBACK_BY_POLICY
    target: str
    suggestion: str  # `jobs/{job}/suggestions/{suggestion}`
    job: str  # the VERIFY job (or the policy's ROLLBACK job)
    verdict: str
    text: str


async def announce(conn: Connection, event: Event) -> None:
    """The notifications' seam (see the module doc); in the verdict's transaction."""
    log.info(
        "event %s on target %s: %s %s (%s)",
        event.type,
        event.target,
        event.suggestion,
        event.verdict,
        event.text,
    )
    await webhooks.emit(
        conn,
        event.type,
        event.target,
        {
            "text": _line(event),
            "suggestion": event.suggestion,
            "job": event.job,
            "verdict": event.verdict,
            "reason": event.text,
        },
        resource=event.suggestion,
    )


async def act(
    conn: Connection,
    s: domain.Suggestion,
    verify_job: domain.Job,
    verification: vpb.Verification,
    on_regression: str,
) -> None:
    """Applies the target's policy to `verification` (filling its `policy_action` and
    `rollback_job`) and announces it; in the VERIFY job's final transaction."""
    verdict = vpb.Verdict.Name(verification.verdict)
    name = names.suggestion_name(s.job_id, s.id)
    base = Event(
        "VERIFICATION_VERDICT",
        s.target,
        name,
        names.job_name(verify_job.id),
        verdict,
        verification.reason,
    )
    if verdict != Verdict.REGRESSED:
        await announce(conn, base)
        return
    if on_regression != OnRegression.ROLLBACK:
        verification.policy_action = "notify: the change stays; people are told"
        await announce(conn, base)
        await announce(conn, _replace(base, type="REGRESSION"))
        return
    rollback = await _rollback(conn, s, verify_job, verification)
    await announce(conn, base)
    await announce(conn, _replace(base, type="REGRESSION"))
    if rollback is not None:
        await announce(
            conn,
            _replace(base, type="ROLLBACK_BY_POLICY", job=names.job_name(rollback.id)),
        )


def _line(e: Event) -> str:
    """The one line a person reads (a Slack message's text)."""
    line = f"pgsage: {e.suggestion} on {e.target}: {e.verdict}"
    if e.text:
        line += f" ({e.text})"
    if e.type == "ROLLBACK_BY_POLICY":
        line += f"; rolled back by pgsage policy in {e.job}"
    return line


def _replace(e: Event, **fields: str) -> Event:
    return Event(**{**e.__dict__, **fields})


async def _rollback(
    conn: Connection, s: domain.Suggestion, verify_job: domain.Job, v: vpb.Verification
) -> domain.Job | None:
    """A ROLLBACK job on behalf of "pgsage policy", or None saying why not."""
    name = names.suggestion_name(s.job_id, s.id)
    current = await conn.fetchrow(
        "SELECT state FROM suggestion WHERE id = $1 AND job_id = $2 FOR UPDATE", s.id, s.job_id
    )
    state = current["state"] if current else "gone"
    if state != SuggestionState.APPLIED:
        v.policy_action = f"rollback: not created, the suggestion is {state} now"
        return None
    try:
        await changes.check_no_conflict(conn, JobKind.ROLLBACK, s)
        async with conn.transaction():  # a savepoint: a lost race leaves the verdict stored
            job, _ = await jobs.create(
                conn,
                domain.NewJob(
                    kind=JobKind.ROLLBACK,
                    target=s.target,
                    suggestion_job_id=s.job_id,
                    suggestion_id=s.id,
                    max_attempts=verify_job.max_attempts,
                    creator=POLICY_PRINCIPAL,
                ),
            )
    except (errors.ChangeInProgress, errors.ChangeAlreadyApplied) as exc:
        v.policy_action = f"rollback: not created ({exc.message})"
        return None
    except asyncpg.UniqueViolationError:
        v.policy_action = "rollback: not created (another change job became live meanwhile)"
        return None
    v.policy_action = f"rollback: {names.job_name(job.id)} created by {POLICY_PRINCIPAL}"
    v.rollback_job = names.job_name(job.id)
    await audit.record(
        conn,
        audit.Entry(
            actor=POLICY_PRINCIPAL,
            actor_subject=POLICY_PRINCIPAL,
            authenticated=True,
            action="job.create.rollback",
            resource=name,
            job_id=job.id,
            target=s.target,
            outcome="OK",
            detail=(
                f"on_regression = rollback; verdict REGRESSED by {names.job_name(verify_job.id)}: "
                f"{v.reason}"
            )[:2000],
        ),
    )
    log.info("job %s: REGRESSED; policy created ROLLBACK job %s", verify_job.id, job.id)
    return job
