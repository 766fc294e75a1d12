"""Errors of the optimizer service, on top of `pgsage.errors` (translated at the gRPC edge).

    pgsage.errors.PgsageError
    ├── NotFound
    │   └── TargetNotFound             TARGET_NOT_FOUND: no target by that name
    ├── Unavailable
    │   └── TargetUnavailable          TARGET_UNAVAILABLE: cannot connect (cause, scrubbed)
    ├── InvalidArgument
    │   └── InvalidStatement           INVALID_STATEMENT: edited SQL refused, field named
    └── Unimplemented                  NOT_IMPLEMENTED_YET: Benchmark/Apply/Rollback for now

`scrub` removes anything DSN- or password-like from a driver message before it is used.
"""

from __future__ import annotations

import re

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
