"""Errors of the job service, each with its gRPC code (from `pgsage.errors`) and reason.

The servicer and repositories raise these; `pgsage.rpc.ErrorInterceptor` turns them into a
`google.rpc.Status` with `ErrorInfo` (domain `pgsage.dev`) at the edge. Driver errors are
translated into them once, in `job_service.database`. The reasons are
`job_service.vocabulary.ErrorReason` members (stable API strings).

    pgsage.errors.PgsageError
    ├── InvalidArgument
    │   ├── InvalidName               INVALID_NAME          (field: the name's field)
    │   ├── InvalidFilter             INVALID_FILTER        (field: filter)
    │   ├── InvalidPageToken          INVALID_PAGE_TOKEN    (field: page_token)
    │   ├── InvalidStatement          INVALID_STATEMENT     (field: suggestion.edited_sql)
    │   │   (SQL a person writes is checked by pgsage.sqlcheck: StatementNotAllowed
    │   │    INVALID_STATEMENT, QueryNotAllowed QUERY_NOT_ALLOWED, field job.queries[i])
    │   └── InvalidField              INVALID_FIELD / REQUIRED_FIELD_MISSING
    ├── Unauthenticated
    │   ├── CredentialsMissing        CREDENTIALS_MISSING
    │   └── BadCredentials            TOKEN_INVALID / TOKEN_EXPIRED / TOKEN_NOT_YET_VALID /
    │                                 TOKEN_REVOKED
    ├── PermissionDenied
    │   ├── PermissionDenied          PERMISSION_DENIED     (permission, role, target)
    │   └── TwoPersonRule             TWO_PERSON_RULE       (approver)
    ├── NotFound
    │   ├── JobNotFound               JOB_NOT_FOUND
    │   ├── SuggestionNotFound        SUGGESTION_NOT_FOUND
    │   ├── ApiTokenNotFound          API_TOKEN_NOT_FOUND
    │   ├── WebhookNotFound           WEBHOOK_NOT_FOUND
    │   ├── ScheduleNotFound          SCHEDULE_NOT_FOUND
    │   └── TargetNotFound            TARGET_NOT_FOUND
    ├── AlreadyExists
    │   └── SuggestionAlreadyExists   SUGGESTION_ALREADY_EXISTS (one fingerprint per job)
    ├── FailedPrecondition
    │   ├── InvalidStateTransition    INVALID_STATE_TRANSITION
    │   ├── ChangeInProgress          INVALID_STATE_TRANSITION (names the live change job;
    │   │                             constraint uq_job_suggestion_id_live)
    │   ├── ChangeAlreadyApplied      INVALID_STATE_TRANSITION (names the twin suggestion;
    │   │                             constraint uq_suggestion_target_fingerprint_live)
    │   └── JobNotDeletable           JOB_NOT_DELETABLE
    ├── Aborted
    │   └── EtagMismatch              ETAG_MISMATCH
    └── Unavailable
        ├── DatabaseUnavailable       DATABASE_UNAVAILABLE
        ├── OptimizerUnavailable      OPTIMIZER_UNAVAILABLE
        ├── IdentityProviderUnavailable IDENTITY_PROVIDER_UNAVAILABLE
        └── ShuttingDown              SHUTTING_DOWN
"""

from __future__ import annotations

from job_service.vocabulary import ErrorReason
from pgsage import errors


class InvalidName(errors.InvalidArgument):
    default_reason = ErrorReason.INVALID_NAME

    def __init__(self, field: str, value: str, pattern: str) -> None:
        super().__init__(
            field,
            f"{field} must look like {pattern!r} (got {errors.cap(value, 80)!r})",
            metadata={"value": value},
        )


class InvalidFilter(errors.InvalidArgument):
    default_reason = ErrorReason.INVALID_FILTER

    def __init__(self, message: str, *, field: str = "filter") -> None:
        super().__init__(field, f"invalid filter: {message}")


class InvalidPageToken(errors.InvalidArgument):
    default_reason = ErrorReason.INVALID_PAGE_TOKEN

    def __init__(self, message: str) -> None:
        super().__init__("page_token", message)


class InvalidStatement(errors.InvalidArgument):
    default_reason = ErrorReason.INVALID_STATEMENT

    def __init__(self, message: str, *, field: str = "suggestion.edited_sql") -> None:
        super().__init__(field, message)


class InvalidField(errors.InvalidArgument):
    default_reason = ErrorReason.INVALID_FIELD


class MissingField(errors.InvalidArgument):
    default_reason = ErrorReason.REQUIRED_FIELD_MISSING

    def __init__(self, field: str) -> None:
        super().__init__(field, f"{field} is required")


class JobNotFound(errors.NotFound):
    default_reason = ErrorReason.JOB_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} does not exist", metadata={"resource": name})


class SuggestionNotFound(errors.NotFound):
    default_reason = ErrorReason.SUGGESTION_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} does not exist", metadata={"resource": name})


class SuggestionAlreadyExists(errors.AlreadyExists):
    default_reason = ErrorReason.SUGGESTION_ALREADY_EXISTS

    def __init__(self) -> None:
        super().__init__(
            "this job already has a suggestion with that fingerprint",
            metadata={"constraint": "uq_suggestion_job_id_fingerprint"},
        )


class InvalidStateTransition(errors.FailedPrecondition):
    default_reason = ErrorReason.INVALID_STATE_TRANSITION

    def __init__(self, resource: str, state: str, action: str, *, why: str = "") -> None:
        message = f"cannot {action} {resource}: it is {state}"
        super().__init__(
            f"{message} ({why})" if why else message,
            metadata={"resource": resource, "state": state, "action": action},
        )


class ChangeInProgress(errors.FailedPrecondition):
    """A change job cannot start: another one is live on the same suggestion.

    `job` names the live one ('' when it could not be looked up); `request_id` is its
    idempotency key (not shown to callers: CreateJob compares it with its own).
    """

    default_reason = ErrorReason.INVALID_STATE_TRANSITION

    def __init__(
        self, suggestion: str, *, job: str = "", kind: str = "", state: str = "", request_id=""
    ) -> None:
        who = f"{kind} job {job}" if job else "another change job"
        super().__init__(
            f"cannot start a change job on {suggestion}: {who} is still {state or 'live'} "
            "for it; wait until it ends",
            metadata={
                "resource": suggestion,
                "constraint": "uq_job_suggestion_id_live",
                **({"job": job} if job else {}),
            },
        )
        self.job = job
        self.request_id = request_id


class ChangeAlreadyApplied(errors.FailedPrecondition):
    """The same change (target, fingerprint) is already on the target as another suggestion.

    `twin` names that suggestion and `job` the change job that put it there ('' when they
    could not be looked up).
    """

    default_reason = ErrorReason.INVALID_STATE_TRANSITION

    def __init__(
        self,
        *,
        suggestion: str = "",
        twin: str = "",
        state: str = "",
        target: str = "",
        job: str = "",
    ) -> None:
        what = f"apply {suggestion}" if suggestion else "apply this change"
        where = f" {target!r}" if target else " the target"
        held = f" as {twin} ({state}{f', by {job}' if job else ''})" if twin else ""
        super().__init__(
            f"cannot {what}: the same change is already on{where}{held}; roll that back first",
            metadata={
                "constraint": "uq_suggestion_target_fingerprint_live",
                **({"resource": suggestion} if suggestion else {}),
                **({"twin": twin} if twin else {}),
                **({"job": job} if job else {}),
            },
        )


class JobNotDeletable(errors.FailedPrecondition):
    default_reason = ErrorReason.JOB_NOT_DELETABLE

    def __init__(self, resource: str, why: str) -> None:
        super().__init__(f"cannot delete {resource}: {why}", metadata={"resource": resource})


class EtagMismatch(errors.Aborted):
    default_reason = ErrorReason.ETAG_MISMATCH

    def __init__(self, resource: str, given: str, current: str) -> None:
        super().__init__(
            f"{resource} changed since it was read (etag {errors.cap(given, 40)!r} is not the "
            f"current {current!r}); read it again and retry",
            metadata={"resource": resource, "field": "etag", "current_etag": current},
        )


class DatabaseUnavailable(errors.Unavailable):
    default_reason = ErrorReason.DATABASE_UNAVAILABLE

    def __init__(self, why: str) -> None:
        super().__init__(
            f"the job store's database is unavailable: {why}", metadata={"dependency": "database"}
        )


class OptimizerUnavailable(errors.Unavailable):
    default_reason = ErrorReason.OPTIMIZER_UNAVAILABLE

    def __init__(self, why: str) -> None:
        super().__init__(
            f"the optimizer is unavailable: {why}", metadata={"dependency": "optimizer"}
        )


class ShuttingDown(errors.Unavailable):
    default_reason = ErrorReason.SHUTTING_DOWN

    def __init__(self, resource: str, revision: int) -> None:
        super().__init__(
            f"this job service is shutting down; watch {resource} again with "
            f"since_revision={revision} (any replica)",
            metadata={"resource": resource, "revision": revision},
        )


class CredentialsMissing(errors.Unauthenticated):
    default_reason = ErrorReason.CREDENTIALS_MISSING

    def __init__(self) -> None:
        super().__init__(
            "this call needs credentials: send `authorization: Bearer <token>` (a JWT from the "
            "configured identity provider or a pgsage API token)"
        )


class BadCredentials(errors.Unauthenticated):
    """The bearer token was refused; the message says why, never what the token was."""

    def __init__(self, reason: ErrorReason | str, why: str) -> None:
        super().__init__(f"the bearer token was refused: {why}", reason=reason)


class PermissionDenied(errors.PermissionDenied):
    def __init__(self, who: str, permission: str, role: str, target: str | None) -> None:
        where = f"on target {target!r}" if target is not None else "on every target"
        super().__init__(
            f"{who} lacks the permission {permission} {where} (it needs the {role} role)",
            metadata={
                "permission": permission,
                "role": role,
                **({"target": target} if target is not None else {}),
            },
        )


class TwoPersonRule(errors.PermissionDenied):
    default_reason = ErrorReason.TWO_PERSON_RULE

    def __init__(self, suggestion: str, target: str, approver: str) -> None:
        super().__init__(
            f"target {target!r} needs two people: {suggestion} was approved by {approver}, "
            "so someone else must apply it",
            metadata={"permission": "jobs.create.apply", "target": target, "approver": approver},
        )


class ApiTokenNotFound(errors.NotFound):
    default_reason = ErrorReason.API_TOKEN_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} does not exist", metadata={"resource": name})


class IdentityProviderUnavailable(errors.Unavailable):
    default_reason = ErrorReason.IDENTITY_PROVIDER_UNAVAILABLE

    def __init__(self, why: str) -> None:
        super().__init__(
            f"cannot verify the bearer token: the identity provider's keys are unreachable ({why})"
        )


class WebhookNotFound(errors.NotFound):
    default_reason = ErrorReason.WEBHOOK_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} does not exist", metadata={"resource": name})


class ScheduleNotFound(errors.NotFound):
    default_reason = ErrorReason.SCHEDULE_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} does not exist", metadata={"resource": name})


class TargetNotFound(errors.NotFound):
    default_reason = ErrorReason.TARGET_NOT_FOUND

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} does not exist", metadata={"resource": name})
