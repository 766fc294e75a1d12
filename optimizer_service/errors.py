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
    ├── Unavailable (by reason)        TARGET_SESSION_FAILED: the driver's session broke
    ├── PermissionDenied
    │   └── TargetPermissionDenied     TARGET_PERMISSION_DENIED: pgsage's role on the target
    │                                  lacks a privilege (named: `SELECT on table x`)
    ├── Aborted
    │   └── LockTimeout                LOCK_TIMEOUT: lock_timeout ran out (retry later)
    ├── DeadlineExceeded
    │   └── StatementTimeout           STATEMENT_TIMEOUT: statement_timeout ran out (phase named)
    ├── Unimplemented                  NOT_IMPLEMENTED_YET: an RPC this version lacks
    ├── ClientCertificateRequired      UNAUTHENTICATED, CLIENT_CERTIFICATE_REQUIRED (mTLS)
    └── ClientNotAllowed               PERMISSION_DENIED, CLIENT_NOT_ALLOWED: identity not
                                       in allowed_clients

`scrub` removes anything DSN- or password-like from a driver message before it is used.

Driver errors are translated in one place, the end of this module: `kind_of` classifies any
driver error by SQLSTATE (exact code, then class) or exception type (`BY_SQLSTATE`,
`BY_CLASS`), `to_domain` makes the domain error of each kind (target gone → UNAVAILABLE
TARGET_UNAVAILABLE, statement_timeout → DEADLINE_EXCEEDED naming the phase, lock_timeout →
ABORTED, 42501 → PERMISSION_DENIED naming the privilege, anything else STATEMENT_FAILED), and
`translated` applies it at the edge of every RPC. Modules catch a driver error only when
`refused(exc)`: the target refused that one statement and the work can go on without it.

`from_target(exc)` is the one text of a target's driver error into text a caller may
see: the SQLSTATE and a pgsage message named after the condition (`22P02 invalid text
representation`), never PostgreSQL's own text, which echoes values (`invalid input syntax
for type integer: "4111..."`, `Key (card)=(...)`). The optimizer's log gets the message with
every quoted or parenthesised value replaced, never the DETAIL.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
from collections.abc import Callable, Iterator

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
        if isinstance(exc, TimeoutError):
            words = "no answer in time"
        elif isinstance(exc, OSError):
            words = "the connection failed"
        elif "connection is closed" in str(exc):
            words = "the session's connection was closed"
        else:
            words = f"driver {words}"
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

    def __init__(self, name: str, cause: str, during: str = "") -> None:
        super().__init__(
            f"target {name!r} is unreachable{f' during {during}' if during else ''}: {cause}; "
            "retry once it is back",
            metadata={"target": name, "cause": cause} | ({"phase": during} if during else {}),
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

    def __init__(self, statement: str, target: str, cause: str, phase: str = "") -> None:
        message, metadata = _failure(statement, target, cause)
        if phase:
            message = f"the {phase} phase of {message} (a lock was held too long; retry later)"
            metadata["phase"] = phase
        super().__init__(message, metadata=metadata)


class StatementTimeout(errors.DeadlineExceeded):
    default_reason = "STATEMENT_TIMEOUT"

    def __init__(self, statement: str, target: str, cause: str, phase: str = "") -> None:
        message, metadata = _failure(statement, target, cause)
        if phase:
            message = (
                f"the {phase} phase of {statement} on target {target!r} ran past the target's "
                f"statement_timeout ({cause}); raise statement_timeout_ms in the target's "
                "configuration, or retry when the target is less busy"
            )
            metadata["phase"] = phase
        super().__init__(message, metadata=metadata)


class BuildTimeout(errors.DeadlineExceeded):
    """An APPLY's or ROLLBACK's statement ran past its build timeout. Not worth another
    attempt as it is: the next one would run as long (the job fails, saying what to raise)."""

    default_reason = "BUILD_TIMEOUT"

    def __init__(self, statement: str, target: str, build_ms: int) -> None:
        super().__init__(
            f"{statement} on target {target!r} ran past its build timeout ({build_ms / 1000:g} s) "
            "and was stopped; the target is as it was before. Give the job a longer build "
            "timeout, or raise build_timeout_ms in the target's configuration (0: none)",
            metadata={
                "target": target,
                "statement": statement,
                "phase": "build",
                "build_timeout_ms": build_ms,
            },
        )


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


class TargetPermissionDenied(errors.PermissionDenied):
    default_reason = "TARGET_PERMISSION_DENIED"

    def __init__(self, target: str, privilege: str, during: str) -> None:
        super().__init__(
            f"the role pgsage connects to target {target!r} as lacks {privilege}, which "
            f"{during} needs; grant it on the target (or connect as a role that has it)",
            metadata={"target": target, "privilege": privilege, "phase": during},
        )


# -- the one translation of a target's driver errors ----------------------------------------

LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
INSUFFICIENT_PRIVILEGE = "42501"


class Kind(enum.StrEnum):
    """What a driver error means for the work that got it, whatever the module."""

    GONE = "gone"  # the target or the session went away: UNAVAILABLE, retry
    STATEMENT_TIMEOUT = "statement_timeout"  # DEADLINE_EXCEEDED, naming the phase
    LOCK_TIMEOUT = "lock_timeout"  # ABORTED: retry later
    PERMISSION = "permission"  # PERMISSION_DENIED, naming the privilege
    SESSION = "session"  # the driver's session is unusable (client side): UNAVAILABLE
    REFUSED = "refused"  # the target refused this one statement: STATEMENT_FAILED


# SQLSTATEs whose meaning does not depend on the statement: exact codes first, then classes
# (the first two characters). Every other SQLSTATE is a refusal of the statement itself.
BY_SQLSTATE: dict[str, Kind] = {
    "57P01": Kind.GONE,  # admin_shutdown: a fast stop or restart, pg_terminate_backend
    "57P02": Kind.GONE,  # crash_shutdown: another backend crashed
    "57P03": Kind.GONE,  # cannot_connect_now: starting up or shutting down
    "57P04": Kind.GONE,  # database_dropped
    "57P05": Kind.GONE,  # idle_session_timeout
    "53300": Kind.GONE,  # too_many_connections
    LOCK_NOT_AVAILABLE: Kind.LOCK_TIMEOUT,
    INSUFFICIENT_PRIVILEGE: Kind.PERMISSION,
}
BY_CLASS: dict[str, Kind] = {
    "08": Kind.GONE,  # connection exception (asyncpg's ConnectionDoesNotExistError is 08003)
}

# Everything the driver raises for a target: what `translated` turns into domain errors and a
# pooled session's probe treats as "this session is unusable".
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,  # refused, reset, unreachable; TimeoutError (no answer in time) is one too
)


def kind_of(exc: BaseException) -> Kind | None:
    """The `Kind` of a driver error (by SQLSTATE, else by exception type); None for an
    exception that is not the driver's (a bug: INTERNAL at the edge)."""
    if isinstance(exc, asyncpg.PostgresError):
        code = str(getattr(exc, "sqlstate", "") or "")
        if code == QUERY_CANCELED:
            # 57014 is also a DBA's pg_cancel_backend: only the timeout is a deadline.
            return Kind.STATEMENT_TIMEOUT if "statement timeout" in str(exc) else Kind.REFUSED
        return BY_SQLSTATE.get(code) or BY_CLASS.get(code[:2], Kind.REFUSED)
    if isinstance(exc, asyncpg.exceptions.DataError):
        return Kind.REFUSED  # an argument the driver could not encode: that statement only
    if isinstance(exc, asyncpg.InterfaceError):
        return Kind.GONE if "connection is closed" in str(exc) else Kind.SESSION
    if isinstance(exc, asyncpg.exceptions.InternalClientError):
        return Kind.SESSION
    if isinstance(exc, OSError):
        return Kind.GONE
    return None


def refused(exc: BaseException, *, timeouts: bool = False) -> bool:
    """Whether the target refused just this statement (the session and the target are fine,
    the next statement may work): the only driver errors a module may handle itself, e.g.
    one query that cannot be planned becoming an insight. `timeouts=True` counts a
    statement or lock timeout as such a refusal, where one slow item is expected and
    skipped (a what-if build, a verified drop, one measured query). Anything else (the
    target gone, a broken session) must reach `translated`."""
    local = {Kind.REFUSED, Kind.PERMISSION}
    if timeouts:
        local |= {Kind.STATEMENT_TIMEOUT, Kind.LOCK_TIMEOUT}
    return kind_of(exc) in local


_DENIED = re.compile(r"permission denied for ([a-z ]+?) (\S+)$")
_OWNER = re.compile(r"must be owner of ([a-z ]+?) (\S+)$")
_GRANT = {
    "table": "SELECT",
    "view": "SELECT",
    "materialized view": "SELECT",
    "foreign table": "SELECT",
    "sequence": "SELECT",
    "schema": "USAGE",
    "function": "EXECUTE",
    "procedure": "EXECUTE",
    "database": "CONNECT or TEMP",
}


def privilege(exc: BaseException) -> str:
    """The privilege a 42501 says is missing, in pgsage's words (`SELECT on table
    public.orders`); object names only, never a value."""
    raw = str(getattr(exc, "message", "") or exc).strip()
    denied, owner = _DENIED.match(raw), _OWNER.match(raw)
    if denied:
        kind, name = denied[1], errors.cap(denied[2].strip("\"'"), 120)
        return f"{_GRANT.get(kind, 'a privilege')} on {kind} {name}"
    if owner:
        return f"ownership of {owner[1]} {errors.cap(owner[2].strip(chr(34)), 120)}"
    return "a privilege PostgreSQL did not name (SQLSTATE 42501)"


def to_domain(exc: BaseException, *, what: str, target: str, phase: str = "") -> errors.PgsageError:
    """THE translation of a target's driver error into the domain error a caller sees:
    `what` is the operation (`Analyze`, `CREATE INDEX CONCURRENTLY ...`), `phase` the part
    of it that was running (`workload`, `what-if`, `benchmark`, `apply`). The raw text goes
    to the log only (redacted), once, in `from_target`; never a DSN, never a value."""
    kind = kind_of(exc) or Kind.REFUSED
    cause = from_target(exc, f"{what}{f' ({phase})' if phase else ''} on {target}")
    during = f"the {phase} phase of {what}" if phase else what
    if kind is Kind.GONE:
        return TargetUnavailable(target, cause, during=during)
    if kind is Kind.STATEMENT_TIMEOUT:
        return StatementTimeout(what, target, cause, phase=phase)
    if kind is Kind.LOCK_TIMEOUT:
        return LockTimeout(what, target, cause, phase=phase)
    if kind is Kind.PERMISSION:
        return TargetPermissionDenied(target, privilege(exc), during)
    if kind is Kind.SESSION:
        return errors.Unavailable(
            f"{during}: the session on target {target!r} failed ({cause})",
            reason="TARGET_SESSION_FAILED",
            metadata={"target": target, "cause": cause},
        )
    return StatementFailed(what, target, cause)


def from_driver(exc: BaseException, statement: str, where: str) -> errors.PgsageError:
    """`to_domain` for one statement (`statement` names it by its first words) on `where`."""
    return to_domain(exc, what=statement, target=where)


@contextlib.contextmanager
def translated(
    method: str, where: str = "the target", phase: Callable[[], str] | None = None
) -> Iterator[None]:
    """The edge of every RPC that talks to a target: a driver error that no module handled
    becomes its domain error (`to_domain`), so neither a response nor the log (no
    traceback) holds its text. `phase()` names the part of the work that was running."""
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise to_domain(exc, what=method, target=where, phase=phase() if phase else "") from None
