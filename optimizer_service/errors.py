"""Errors of the optimizer service, on top of `pgsage.errors` (translated at the gRPC edge).

    pgsage.errors.PgsageError
    ├── NotFound
    │   └── TargetNotFound             TARGET_NOT_FOUND: no target by that name
    ├── Unavailable
    │   └── TargetUnavailable          TARGET_UNAVAILABLE: cannot connect (cause, scrubbed)
    ├── InvalidArgument
    │   └── InvalidStatement           INVALID_STATEMENT: edited SQL refused, field named
    ├── FailedPrecondition
    │   ├── ApplyNotAllowed            APPLY_NOT_ALLOWED: the target's config forbids DDL
    │   ├── BenchmarkNotConfigured     BENCHMARK_NOT_CONFIGURED: no sandbox, no sampling
    │   ├── IndexNameTaken             INDEX_NAME_TAKEN: that name is another index
    │   └── StatementFailed            STATEMENT_FAILED: PostgreSQL refused a statement
    ├── Aborted
    │   └── LockTimeout                LOCK_TIMEOUT: lock_timeout ran out (retry later)
    ├── DeadlineExceeded
    │   └── StatementTimeout           STATEMENT_TIMEOUT: statement_timeout ran out
    ├── Unimplemented                  NOT_IMPLEMENTED_YET: an RPC this version lacks
    ├── ClientCertificateRequired      UNAUTHENTICATED, CLIENT_CERTIFICATE_REQUIRED (mTLS)
    └── ClientNotAllowed               PERMISSION_DENIED, CLIENT_NOT_ALLOWED: identity not
                                       in allowed_clients

`scrub` removes anything DSN- or password-like from a driver message before it is used.
"""

from __future__ import annotations

import re

import grpc

from pgsage import errors

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_PASSWORD = re.compile(r"(password|passwd|pwd)\s*[=:]\s*\S+", re.IGNORECASE)
_USER_AT = re.compile(r"\b\S+:\S+@\S+")


def scrub(message: str, secrets: tuple[str, ...] = ()) -> str:
    """`message` without URLs, `password=...` pairs, `user:pass@host`, or given secrets."""
    text = message
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _URL.sub("<dsn>", text)
    text = _PASSWORD.sub(r"\1=***", text)
    text = _USER_AT.sub("<credentials>", text)
    return errors.cap(text.strip() or "unknown error", 300)


class TargetNotFound(errors.NotFound):
    default_reason = "TARGET_NOT_FOUND"

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            f"no target named {errors.cap(name, 80)!r}; configured targets: "
            + (", ".join(known) or "none"),
            metadata={"target": name, "field": "target"},
        )


class TargetUnavailable(errors.Unavailable):
    default_reason = "TARGET_UNAVAILABLE"

    def __init__(self, name: str, cause: str) -> None:
        super().__init__(
            f"target {name!r} is unreachable: {cause}",
            metadata={"target": name, "cause": cause},
        )


class InvalidStatement(errors.InvalidArgument):
    default_reason = "INVALID_STATEMENT"

    def __init__(self, message: str, field: str = "sql") -> None:
        super().__init__(field, message)


class NotImplementedYet(errors.Unimplemented):
    default_reason = "NOT_IMPLEMENTED_YET"

    def __init__(self, method: str) -> None:
        super().__init__(
            f"{method} is not implemented yet in this optimizer version; "
            "Analyze, ListTargets, ValidateStatement and GetDiagnostics are",
            metadata={"method": method},
        )


class ApplyNotAllowed(errors.FailedPrecondition):
    default_reason = "APPLY_NOT_ALLOWED"

    def __init__(self, target: str) -> None:
        super().__init__(
            f"target {target!r} does not allow apply or rollback; set apply_allowed = true "
            "in its configuration to allow it",
            metadata={"target": target},
        )


class BenchmarkNotConfigured(errors.FailedPrecondition):
    default_reason = "BENCHMARK_NOT_CONFIGURED"

    def __init__(self, target: str) -> None:
        super().__init__(
            f"target {target!r} has nowhere to benchmark: name a sandbox target in its "
            'configuration (sandbox = "<target>"), or allow a sampled copy in a scratch '
            "schema on it (benchmark_sampling = true, sample_percent = 10)",
            metadata={"target": target},
        )


class IndexNameTaken(errors.FailedPrecondition):
    default_reason = "INDEX_NAME_TAKEN"

    def __init__(self, index: str, table: str) -> None:
        super().__init__(
            f"an index named {errors.cap(index, 80)} already exists with another definition, "
            f"or on another table than {errors.cap(table, 100)}; name the index differently",
            metadata={"index": index, "table": table},
        )


def _failure(statement: str, target: str, cause: str) -> tuple[str, dict[str, object]]:
    return (
        f"{statement} failed on target {target!r}: {cause}",
        {"target": target, "statement": statement, "cause": cause},
    )


class StatementFailed(errors.FailedPrecondition):
    default_reason = "STATEMENT_FAILED"

    def __init__(self, statement: str, target: str, cause: str) -> None:
        message, metadata = _failure(statement, target, cause)
        super().__init__(message, metadata=metadata)


class LockTimeout(errors.Aborted):
    default_reason = "LOCK_TIMEOUT"

    def __init__(self, statement: str, target: str, cause: str) -> None:
        message, metadata = _failure(statement, target, cause)
        super().__init__(message, metadata=metadata)


class StatementTimeout(errors.DeadlineExceeded):
    default_reason = "STATEMENT_TIMEOUT"

    def __init__(self, statement: str, target: str, cause: str) -> None:
        message, metadata = _failure(statement, target, cause)
        super().__init__(message, metadata=metadata)


class ClientCertificateRequired(errors.PgsageError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "CLIENT_CERTIFICATE_REQUIRED"

    def __init__(self, method: str) -> None:
        super().__init__(
            f"{method} needs a client certificate (mutual TLS) whose identity the optimizer allows",
            metadata={"method": method},
        )


class ClientNotAllowed(errors.PgsageError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "CLIENT_NOT_ALLOWED"

    def __init__(self, method: str, identities: list[str]) -> None:
        shown = ", ".join(identities)
        super().__init__(
            f"{method}: the client certificate's identities ({errors.cap(shown, 200)}) are not "
            "in the optimizer's allowed clients (PGSAGE_OPTIMIZER_ALLOWED_CLIENTS)",
            metadata={"method": method, "identities": shown},
        )
