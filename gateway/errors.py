"""gRPC statuses as HTTP errors: the AIP-193 JSON body with the status of google/rpc/code.proto.

Translated in exactly one place: `response_for` turns any exception reaching the edge into a
JSON error response. A `google.rpc.Status` from the job service keeps its message and details
(`ErrorInfo` with reason and field); the gateway's own errors (malformed JSON, unknown query
parameter, no such route) are `pgsage.errors.PgsageError`s and render the same way. Anything
else is logged and answered as a generic 500 without a trace.
"""

from __future__ import annotations

import logging

import grpc
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from starlette.responses import JSONResponse

from pgsage import errors, rpc

log = logging.getLogger(__name__)

# google/rpc/code.proto, "HTTP Mapping" of each code.
HTTP_STATUS = {
    code_pb2.OK: 200,
    code_pb2.CANCELLED: 499,
    code_pb2.UNKNOWN: 500,
    code_pb2.INVALID_ARGUMENT: 400,
    code_pb2.DEADLINE_EXCEEDED: 504,
    code_pb2.NOT_FOUND: 404,
    code_pb2.ALREADY_EXISTS: 409,
    code_pb2.PERMISSION_DENIED: 403,
    code_pb2.UNAUTHENTICATED: 401,
    code_pb2.RESOURCE_EXHAUSTED: 429,
    code_pb2.FAILED_PRECONDITION: 400,
    code_pb2.ABORTED: 409,
    code_pb2.OUT_OF_RANGE: 400,
    code_pb2.UNIMPLEMENTED: 501,
    code_pb2.INTERNAL: 500,
    code_pb2.UNAVAILABLE: 503,
    code_pb2.DATA_LOSS: 500,
}


class RouteNotFound(errors.NotFound):
    default_reason = "ROUTE_NOT_FOUND"


class MethodNotAllowed(errors.PgsageError):
    """No route takes this HTTP method on this path (HTTP 405; gRPC has no such code)."""

    code = grpc.StatusCode.UNIMPLEMENTED
    default_reason = "METHOD_NOT_ALLOWED"


class ResourceExhausted(errors.PgsageError):
    """Too many requests or streams from one client (HTTP 429, with Retry-After)."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class BrowserDefence(errors.PgsageError):
    """A request refused by the gateway's browser defences, with an HTTP status of its own
    where gRPC has no code for it (415 Unsupported Media Type, 413 Content Too Large)."""

    http_status: int | None = None


class HostNotAllowed(BrowserDefence):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "HOST_NOT_ALLOWED"


class CrossOrigin(BrowserDefence):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "CROSS_ORIGIN_REQUEST"


class UnsupportedMediaType(BrowserDefence):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class BodyTooLarge(BrowserDefence):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "BODY_TOO_LARGE"
    http_status = 413


def status_from_rpc_error(error: grpc.RpcError, dependency: str) -> status_pb2.Status:
    """The job service's `google.rpc.Status`, with a plain message when it could not answer."""
    status = rpc.status_of(error)
    if status.details:
        return status
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    if code == grpc.StatusCode.UNAVAILABLE:
        reason = f"{dependency.upper().replace(' ', '_')}_UNAVAILABLE"
        message = f"{dependency} unavailable"
    elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
        reason, message = "DEADLINE_EXCEEDED", f"{dependency} did not answer in time"
    else:
        reason, message = errors.CODE_NAMES.get(status.code, "UNKNOWN"), status.message
    dependency_key = dependency.replace(" ", "_")
    wrapped = errors.PgsageError(message, reason=reason, metadata={"service": dependency_key})
    result = wrapped.to_status()
    result.code = status.code
    return result


def body_of(status: status_pb2.Status, http_status: int) -> dict:
    """The AIP-193 error body of `status`."""
    details = [json_format.MessageToDict(d) for d in status.details]
    return {
        "error": {
            "code": http_status,
            "message": status.message,
            "status": errors.CODE_NAMES.get(status.code, "UNKNOWN"),
            "details": details,
        }
    }


def status_response(status: status_pb2.Status, http_status: int | None = None) -> JSONResponse:
    http_status = http_status or HTTP_STATUS.get(status.code, 500)
    return JSONResponse(body_of(status, http_status), status_code=http_status)


def response_for(exc: BaseException) -> JSONResponse:
    """The one translation of an exception into an HTTP error response."""
    if isinstance(exc, MethodNotAllowed):
        return status_response(exc.to_status(), 405)
    if isinstance(exc, errors.PgsageError):
        return status_response(exc.to_status(), getattr(exc, "http_status", None))
    if isinstance(exc, grpc.RpcError):
        return status_response(status_from_rpc_error(exc, "job service"))
    log.error("unexpected error in the gateway", exc_info=exc)
    internal = errors.Internal("internal error; the gateway log has the details")
    return status_response(internal.to_status())
