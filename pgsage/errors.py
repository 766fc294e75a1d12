"""Errors every pgsage service raises, and their gRPC status with `google.rpc.ErrorInfo`.

Services raise these (or subclasses in their own `errors.py`); one interceptor
(`pgsage.rpc.ErrorInterceptor`) turns them into a `google.rpc.Status` at the edge. Anything
else becomes INTERNAL with a generic message: no stack trace ever leaves a process.

    PgsageError                       (base; carries code, reason, metadata)
    ├── InvalidArgument               INVALID_ARGUMENT, names the field
    ├── Unauthenticated               UNAUTHENTICATED (missing or bad credentials)
    ├── PermissionDenied              PERMISSION_DENIED, names the permission
    ├── NotFound                      NOT_FOUND, names the resource
    ├── AlreadyExists                 ALREADY_EXISTS
    ├── FailedPrecondition            FAILED_PRECONDITION (illegal transitions, ...)
    ├── Aborted                       ABORTED (etag mismatch, concurrent change)
    ├── Unavailable                   UNAVAILABLE, names what is down
    ├── DeadlineExceeded              DEADLINE_EXCEEDED
    ├── Unimplemented                 UNIMPLEMENTED
    └── Internal                      INTERNAL (a bug; the message stays generic)
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

DOMAIN = "pgsage.dev"
# Values echoed back in error metadata and messages are capped (they may be user input).
MAX_VALUE_LENGTH = 200


def cap(value: object, limit: int = MAX_VALUE_LENGTH) -> str:
    """Returns `value` as text of at most `limit` characters, marked when cut."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class PgsageError(Exception):
    """Base of every error a pgsage service reports to a caller."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    default_reason = "UNKNOWN"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = cap(message, 1000)
        self.reason = reason or self.default_reason
        self.metadata = {k: cap(v) for k, v in (metadata or {}).items()}

    def to_status(self) -> status_pb2.Status:
        """The `google.rpc.Status` a caller sees, with one `ErrorInfo` detail."""
        info = error_details_pb2.ErrorInfo(
            reason=self.reason, domain=DOMAIN, metadata=self.metadata
        )
        detail = any_pb2.Any()
        detail.Pack(info)
        return status_pb2.Status(code=self.code.value[0], message=self.message, details=[detail])


class InvalidArgument(PgsageError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        field: str,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata={"field": field, **(metadata or {})})
        self.field = field


class Unauthenticated(PgsageError):
    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(PgsageError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class NotFound(PgsageError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(PgsageError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(PgsageError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class Aborted(PgsageError):
    code = grpc.StatusCode.ABORTED
    default_reason = "ABORTED"


class Unavailable(PgsageError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(PgsageError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


class Unimplemented(PgsageError):
    code = grpc.StatusCode.UNIMPLEMENTED
    default_reason = "UNIMPLEMENTED"


class Internal(PgsageError):
    code = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"


def from_status(status: status_pb2.Status) -> tuple[str, dict[str, str]]:
    """Reads the `ErrorInfo` reason and metadata out of a status ('' when absent)."""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason, dict(info.metadata)
    return "", {}


CODE_NAMES = {value: name for name, value in code_pb2.Code.items()}
