"""Error translation at the gRPC edge, for servers and clients.

Servers: `ErrorInterceptor` turns a `pgsage.errors.PgsageError` raised by any handler into
a status carrying a `google.rpc.Status` with `ErrorInfo` (packed by `grpcio-status`);
any other exception is logged and answered as INTERNAL with a generic message. It also
decodes each request itself (grpc would decode it before any handler, and answer a
malformed one UNKNOWN with a traceback in the log): bytes that are not the method's request
message are INVALID_ARGUMENT (MALFORMED_REQUEST), logged in one line.

Clients: `status_of(error)` reads that status back from an `AioRpcError` (`grpcio-status`'s
`from_call`, which checks it against the call's own code and message).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_status import rpc_status

from pgsage import errors

log = logging.getLogger(__name__)


async def abort(context: grpc.aio.ServicerContext, error: errors.PgsageError) -> None:
    """Ends the call with `error`'s status, `ErrorInfo` included."""
    await context.abort_with_status(rpc_status.to_status(error.to_status()))


def _internal(method: str, exc: BaseException) -> errors.Internal:
    log.error("unexpected error in %s", method, exc_info=exc)
    return errors.Internal(
        "internal error; the server log has the details", metadata={"method": method}
    )


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Translates exceptions of every handler into rich statuses, in one place."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        decode = handler.request_deserializer
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(method, handler.unary_unary, decode),
                request_deserializer=None,  # the wrapper decodes (see the module doc)
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(method, handler.unary_stream, decode),
                request_deserializer=None,
                response_serializer=handler.response_serializer,
            )
        return handler


Decode = Callable[[bytes], Any] | None


def _decoded(method: str, decode: Decode, raw: Any) -> Any:
    """The request message of `raw` bytes, or INVALID_ARGUMENT when they are not one."""
    if decode is None or not isinstance(raw, bytes):
        return raw
    try:
        return decode(raw)
    except Exception as exc:  # DecodeError, or anything a decoder raises on bad bytes
        log.warning("malformed request to %s: %s", method, type(exc).__name__)
        raise errors.InvalidArgument(
            "request",
            "the request is not a valid protobuf message of this method",
            reason="MALFORMED_REQUEST",
        ) from None


def nul_field(message: Message, prefix: str = "") -> str | None:
    """The path of the first string field holding a NUL character, or None.

    PostgreSQL text cannot hold NUL; such input is the caller's mistake (INVALID_ARGUMENT),
    never a database error.
    """
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_STRING:
            values = value if _is_repeated(field) else [value]
            if field.message_type is None and any("\x00" in v for v in values):
                return path
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                for k, v in value.items():
                    if "\x00" in str(k) or (isinstance(v, str) and "\x00" in v):
                        return path
                    if isinstance(v, Message) and (found := nul_field(v, f"{path}.")):
                        return found
                continue
            for item in value if _is_repeated(field) else [value]:
                if found := nul_field(item, f"{path}."):
                    return found
    return None


def _is_repeated(field: FieldDescriptor) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf >= 6
        return bool(field.is_repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _check_request(request: Any) -> None:
    if isinstance(request, Message) and (path := nul_field(request)):
        raise errors.InvalidArgument(
            path,
            f"{path} contains a NUL character, which pgsage cannot store",
            reason="INVALID_CHARACTER",
        )


def _wrap_unary(
    method: str, behavior: Callable[..., Any], decode: Decode = None
) -> Callable[..., Any]:
    async def wrapper(raw: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            request = _decoded(method, decode, raw)
            _check_request(request)
            return await behavior(request, context)
        except errors.PgsageError as exc:
            await abort(context, exc)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort(context, _internal(method, exc))

    return wrapper


def _wrap_stream(
    method: str, behavior: Callable[..., Any], decode: Decode = None
) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):
        # A handler that writes with `context.write()` (the stock health Watch, say).
        return _wrap_unary(method, behavior, decode)

    async def wrapper(raw: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            request = _decoded(method, decode, raw)
            _check_request(request)
            async for response in behavior(request, context):
                yield response
        except errors.PgsageError as exc:
            await abort(context, exc)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort(context, _internal(method, exc))

    return wrapper


def status_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> status_pb2.Status:
    """The `google.rpc.Status` a server sent with `error` (code and message only if none).

    A rich status whose code or message disagrees with the call's own is not believed
    (`from_call` raises ValueError): the call's code and message stand alone then.
    """
    try:
        status: status_pb2.Status | None = rpc_status.from_call(error)
    except ValueError:
        status = None
    if status is not None:
        return status
    return status_pb2.Status(code=error.code().value[0], message=error.details() or "")


def reason_of(error: grpc.aio.AioRpcError | grpc.RpcError) -> str:
    """The `ErrorInfo.reason` a server sent with `error`, or ''."""
    reason, _ = errors.from_status(status_of(error))
    return reason
