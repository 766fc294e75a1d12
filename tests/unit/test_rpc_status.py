"""A PgsageError raised by a handler reaches an aio client as a rich status (grpcio-status).

A real in-process grpc.aio server with `pgsage.rpc.ErrorInterceptor`; the client reads the
status with `grpc_status.rpc_status.from_call` on the `AioRpcError` itself, and through
`pgsage.rpc.status_of`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable

import grpc
import pytest
from google.rpc import code_pb2
from grpc_status import rpc_status

from pgsage import errors, rpc

MESSAGES = ["no such job", "", "café … ☃", "nul\x00 and\nnewline 100% %zz", "é" * 1000]


async def _unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    if request == b"ok":
        return b"fine"
    if request == b"bug":
        raise RuntimeError("a bug with a secret inside")
    if request == b"bare":
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the optimizer went away")
    if request == b"inconsistent":  # a peer whose rich status contradicts its own status
        lying = errors.NotFound("another message", reason="LIE").to_status()
        details = (("grpc-status-details-bin", lying.SerializeToString()),)
        await context.abort(grpc.StatusCode.NOT_FOUND, "the message", trailing_metadata=details)
    message = MESSAGES[int(request)]
    raise errors.NotFound(message, reason="JOB_NOT_FOUND", metadata={"name": "jobs/x…"})


async def _stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    yield b"first"
    raise errors.InvalidArgument("page_size", "must be positive", reason="INVALID_PAGE_SIZE")


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    handler = grpc.method_handlers_generic_handler(
        "test.Errors",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(_unary),
            "Stream": grpc.unary_stream_rpc_method_handler(_stream),
        },
    )
    server = grpc.aio.server(interceptors=[rpc.ErrorInterceptor()])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield channel
    finally:
        await server.stop(None)


async def _error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


@pytest.mark.parametrize("index", range(len(MESSAGES)))
async def test_a_pgsage_error_arrives_with_its_error_info(channel, index):
    error = await _error(channel.unary_unary("/test.Errors/Unary")(str(index).encode()))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == MESSAGES[index]
    status = rpc_status.from_call(error)
    assert status is not None
    assert status.code == code_pb2.NOT_FOUND and status.message == MESSAGES[index]
    assert errors.from_status(status) == ("JOB_NOT_FOUND", {"name": "jobs/x…"})
    assert rpc.status_of(error) == status
    assert rpc.reason_of(error) == "JOB_NOT_FOUND"


async def test_a_stream_ending_in_a_pgsage_error_carries_it(channel):
    call = channel.unary_stream("/test.Errors/Stream")(b"")
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for response in call:
            received.append(response)
    assert received == [b"first"]
    status = rpc_status.from_call(caught.value)
    assert status is not None and status.code == code_pb2.INVALID_ARGUMENT
    assert errors.from_status(status) == ("INVALID_PAGE_SIZE", {"field": "page_size"})


async def test_an_unexpected_exception_is_a_generic_internal(channel):
    error = await _error(channel.unary_unary("/test.Errors/Unary")(b"bug"))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in error.details()
    reason, metadata = errors.from_status(rpc.status_of(error))
    assert (reason, metadata) == ("INTERNAL", {"method": "/test.Errors/Unary"})


async def test_a_status_without_details_is_its_code_and_message(channel):
    error = await _error(channel.unary_unary("/test.Errors/Unary")(b"bare"))
    assert rpc_status.from_call(error) is None
    status = rpc.status_of(error)
    assert status.code == code_pb2.UNAVAILABLE and status.message == "the optimizer went away"
    assert not status.details and rpc.reason_of(error) == ""


async def test_a_rich_status_contradicting_the_call_is_not_believed(channel):
    error = await _error(channel.unary_unary("/test.Errors/Unary")(b"inconsistent"))
    with pytest.raises(ValueError):
        rpc_status.from_call(error)
    status = rpc.status_of(error)
    assert status.code == code_pb2.NOT_FOUND and status.message == "the message"
    assert not status.details and rpc.reason_of(error) == ""
