"""Prometheus metrics of every gRPC service: the calls it served.

`RpcInterceptor` (installed outermost by `pgsage.server.build_server`, so it sees the status
`pgsage.rpc.ErrorInterceptor` made of an error) counts every call by service, method and
status code, and times it; a streaming call counts when its stream ends. It also names the
method in the log context (`pgsage.logs`).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import Counter, Histogram

from pgsage import logs

# Seconds: from a millisecond call to an hour-long analysis stream.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
)  # fmt: skip

RPCS = Counter(
    "pgsage_grpc_server_handled",
    "gRPC calls served, by service, method and status code (streams when they end).",
    ["grpc_service", "grpc_method", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "pgsage_grpc_server_handling_seconds",
    "Time from a gRPC call's start to its status (a stream's whole life).",
    ["grpc_service", "grpc_method"],
    buckets=LATENCY_BUCKETS,
)


def split_method(full: str) -> tuple[str, str]:
    """('pgsage.jobs.v1.JobService', 'GetJob') of '/pgsage.jobs.v1.JobService/GetJob'."""
    service, _, method = full.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


def _code(context: grpc.aio.ServicerContext, raised: BaseException | None) -> grpc.StatusCode:
    """The status the call ended with: what the context says (an abort sets it), else OK,
    CANCELLED for a call its client left, UNKNOWN for anything else raised."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # some grpc versions keep the number
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    if raised is None:
        return grpc.StatusCode.OK
    if isinstance(raised, asyncio.CancelledError | GeneratorExit):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class _Call:
    def __init__(self, full_method: str) -> None:
        self.service, self.method = split_method(full_method)
        self.start = time.perf_counter()
        logs.bind(rpc=self.method)

    def done(self, context: grpc.aio.ServicerContext, raised: BaseException | None) -> None:
        code = _code(context, raised)
        RPCS.labels(self.service, self.method, code.name).inc()
        RPC_SECONDS.labels(self.service, self.method).observe(time.perf_counter() - self.start)


class RpcInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every call (see the module docstring); keep it outermost."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            behavior = handler.unary_stream
            return grpc.unary_stream_rpc_method_handler(
                _stream(method, behavior)
                if inspect.isasyncgenfunction(behavior)
                else _unary(method, behavior),  # a handler writing with context.write()
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # no client-streaming methods in pgsage


def _unary(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call = _Call(method)
        raised: BaseException | None = None
        try:
            return await behavior(request, context)
        except BaseException as exc:
            raised = exc
            raise
        finally:
            call.done(context, raised)

    return wrapper


def _stream(method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        call = _Call(method)
        raised: BaseException | None = None
        try:
            async for response in behavior(request, context):
                yield response
        except BaseException as exc:
            raised = exc
            raise
        finally:
            call.done(context, raised)

    return wrapper
