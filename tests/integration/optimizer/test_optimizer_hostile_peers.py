"""A slow or hostile peer hurts only itself: a target that accepts connections and never
speaks does not empty ListTargets or GetDiagnostics (it is "not answering since ...", with
what an earlier check learnt), and raw bytes that are no protobuf message are
INVALID_ARGUMENT, with no traceback in the optimizer's log."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator

import grpc
import pytest

from pgsage import rpc
from pgsage.optimizer.v1 import optimizer_service_pb2 as pb
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as pb_grpc
from tests.support.optimizer import seeded_database
from tests.support.pg import drop_database, dsn_for


class Silent:
    """A TCP listener that accepts connections and never says a word (until `speak`)."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)
            await reader.read()  # until the client gives up

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[str]:
    name = await seeded_database("hostile", "CREATE TABLE t (a int)")
    yield name
    await drop_database(name)


@pytest.fixture(scope="module")
async def silent() -> AsyncIterator[int]:
    listener = Silent()
    port = await listener.start()
    yield port
    await listener.stop()


@pytest.fixture(scope="module")
async def stub(database, silent, optimizer_for, channel_for):
    server = await optimizer_for(
        [
            {"name": "good", "dsn": dsn_for(database)},
            {"name": "silent", "dsn": f"postgresql://postgres@127.0.0.1:{silent}/x"},
        ],
        target_check_seconds=1,
    )
    return pb_grpc.OptimizerServiceStub(channel_for(server)), server


async def test_a_silent_target_does_not_empty_the_target_list(stub):
    client, _ = stub
    for _ in range(2):  # the second time, it has been "not answering" since the first
        reply = await client.ListTargets(pb.ListTargetsRequest(), timeout=30)
        by_name = {t.name: t for t in reply.targets}
        assert set(by_name) == {"good", "silent"}
        assert by_name["good"].reachable and by_name["good"].server_version
        assert not by_name["silent"].reachable
        assert by_name["silent"].unreachable_reason.startswith("not answering since ")
    first = by_name["silent"].unreachable_reason
    reply = await client.GetDiagnostics(pb.GetDiagnosticsRequest(), timeout=30)
    by_name = {d.name: d for d in reply.dependencies}
    assert by_name["target:good"].status != pb.Dependency.DOWN
    assert by_name["target:silent"].status == pb.Dependency.DOWN
    # the same "since": the first time it stopped answering
    since = re.search(r"since (\S+Z)", first)
    assert since is not None and since[1] in by_name["target:silent"].message


@pytest.mark.parametrize(
    ("method", "streaming"),
    [("ValidateStatement", False), ("Apply", True), ("Analyze", True), ("ListTargets", False)],
)
async def test_malformed_protobuf_is_invalid_argument_without_a_traceback(
    stub, method, streaming, caplog
):
    caplog.set_level(logging.DEBUG)
    _, server = stub
    async with grpc.aio.insecure_channel(server.address) as channel:
        path = f"/pgsage.optimizer.v1.OptimizerService/{method}"
        garbage = b"\x0a\xff\xff\xff\xff\x0f\x01"  # a length past the end of the message
        with pytest.raises(grpc.aio.AioRpcError) as info:
            if streaming:
                async for _ in channel.unary_stream(path)(garbage, timeout=10):
                    pass
            else:
                await channel.unary_unary(path)(garbage, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc.reason_of(info.value) == "MALFORMED_REQUEST"
    assert "Traceback" not in caplog.text and "DecodeError" not in info.value.details()
