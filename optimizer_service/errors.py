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
    │   ├── StatementFailed            STATEMENT_FAILED: PostgreSQL refused a statement
    │   └── (by reason)                INDEX_NOT_BUILT_BY_PGSAGE: a rollback would drop an
    │                                  index pgsage's Apply did not build (apply.Expected);
    │                                  SAMPLE_RUNS_USER_CODE: a sampled copy would run a
    │                                  user's code (benchmark); INDEX_CHECK_NOT_POSSIBLE:
    │                                  no TEMP privilege for the catalog check (guard)
    ├── Aborted
    │   └── LockTimeout                LOCK_TIMEOUT: lock_timeout ran out (retry later)
    ├── DeadlineExceeded
    │   └── StatementTimeout           STATEMENT_TIMEOUT: statement_timeout ran out
    ├── Unimplemented                  NOT_IMPLEMENTED_YET: an RPC this version lacks
    ├── ClientCertificateRequired      UNAUTHENTICATED, CLIENT_CERTIFICATE_REQUIRED (mTLS)
    └── ClientNotAllowed               PERMISSION_DENIED, CLIENT_NOT_ALLOWED: identity not
                                       in allowed_clients

`scrub` removes anything DSN- or password-like from a driver message before it is used.

`from_target(exc)` is the one translation of a target's driver error into text a caller may
see: the SQLSTATE and a pgsage message named after the condition (`22P02 invalid text
representation`), never PostgreSQL's own text, which echoes values (`invalid input syntax
for type integer: "4111..."`, `Key (card)=(...)`). The optimizer's log gets the message with
every quoted or parenthesised value replaced, never the DETAIL.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator

import asyncpg
import grpc

from pgsage import errors

log = logging.getLogger(__name__)

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


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
# What PostgreSQL messages quote: values ("..."), key values (...)=(...), literals '...'.
_QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|\([^()]*\)=\([^()]*\)')


def condition(exc: BaseException) -> tuple[str, str]:
    """The SQLSTATE of a driver error and a pgsage description of its condition class."""
    code = str(getattr(exc, "sqlstate", "") or "")
    name = type(exc).__name__
    for suffix in ("Error", "Exception"):
        name = name.removesuffix(suffix)
    words = _CAMEL.sub(" ", name).lower().strip() or "error"
    if not code:
        words = "the connection failed" if isinstance(exc, OSError) else f"driver {words}"
    return code, words


def redact(message: str) -> str:
    """`message` with every quoted value, literal and `(key)=(value)` pair replaced."""
    return _QUOTED.sub("<redacted>", message)


def from_target(exc: BaseException, what: str = "") -> str:
    """The one text a caller sees for a target's driver error: SQLSTATE and a pgsage
    message, no value. The redacted message goes to the log, once, here."""
    code, words = condition(exc)
    raw = getattr(exc, "message", None) if isinstance(exc, asyncpg.PostgresError) else None
    raw = raw or str(exc)
    log.warning(
        "target error%s: SQLSTATE %s: %s",
        f" ({what})" if what else "",
        code or "-",
        scrub(redact(str(raw or type(exc).__name__))),
    )
    return f"SQLSTATE {code}: {words}" if code else words


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


LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"


def from_driver(exc: asyncpg.PostgresError, statement: str, where: str) -> errors.PgsageError:
    """The domain error of a statement the target refused or cut short: a lock_timeout is
    LOCK_TIMEOUT (retry later), a statement_timeout STATEMENT_TIMEOUT, anything else
    STATEMENT_FAILED; each with the SQLSTATE and a pgsage message only."""
    cause = from_target(exc, f"{statement} on {where}")
    code = getattr(exc, "sqlstate", "")
    if code == LOCK_NOT_AVAILABLE:
        return LockTimeout(statement, where, cause)
    if code == QUERY_CANCELED and "statement timeout" in str(exc):
        return StatementTimeout(statement, where, cause)
    return StatementFailed(statement, where, cause)


@contextlib.contextmanager
def translated(method: str, where: str = "the target") -> Iterator[None]:
    """Turns a target's driver error that no module handled into the domain error of
    `from_driver`, so neither a response nor the log (no traceback) holds its text."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        raise from_driver(exc, method, where) from None
    except asyncpg.InterfaceError as exc:
        cause = from_target(exc, method)
        raise errors.Unavailable(
            f"{method}: the target session failed ({cause})", reason="TARGET_SESSION_FAILED"
        ) from None
