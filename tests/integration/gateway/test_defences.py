"""The gateway against what a hostile web page (or a flood) can make a browser do: cross-origin
and non-JSON posts, DNS rebinding, huge bodies, request floods, too many change streams; and
the security headers on every answer. Local mode (the attacks need no credentials there)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading

import httpx
import psutil
import pytest

from tests.support import stack as pgsage_stack

EVIL = "http://evil.example"
HEADERS = {
    "content-security-policy",
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
}


def error_of(response: httpx.Response) -> tuple[int, str, str, dict]:
    error = response.json()["error"]
    info = next(d for d in error["details"] if d["@type"].endswith("ErrorInfo"))
    return response.status_code, error["status"], info["reason"], info.get("metadata", {})


async def _state(http: httpx.AsyncClient, name: str) -> str:
    return (await http.get(f"/v1/{name}")).json()["state"]


async def test_a_cross_origin_page_cannot_approve(http, gateway, create_job, seed):
    job = await create_job()
    name = await seed(job["name"], column="status")
    for origin in (EVIL, "null", gateway.url.replace("127.0.0.1", "localhost")):
        response = await http.post(f"/v1/{name}:approve", json={}, headers={"Origin": origin})
        assert error_of(response)[:3] == (403, "PERMISSION_DENIED", "CROSS_ORIGIN_REQUEST")
    assert await _state(http, name) != "APPROVED"
    # The same request from the gateway's own origin goes through.
    same = await http.post(f"/v1/{name}:approve", json={}, headers={"Origin": gateway.url})
    assert same.status_code == 200 and same.json()["state"] == "APPROVED"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
async def test_a_body_that_is_not_json_is_415(http, gateway, create_job, seed, content_type):
    job = await create_job()
    name = await seed(job["name"], column="status")
    headers = {"Origin": gateway.url}
    if content_type:
        headers["Content-Type"] = content_type
    response = await http.post(f"/v1/{name}:approve", content=b"{}", headers=headers)
    status, _, reason, metadata = error_of(response)
    assert (status, reason, metadata["field"]) == (415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type")
    assert await _state(http, name) != "APPROVED"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "127.0.0.2", ""])
async def test_an_unknown_host_is_refused(http, host):
    response = await http.get("/v1/jobs", headers={"Host": host})
    assert error_of(response)[:3] == (400, "INVALID_ARGUMENT", "HOST_NOT_ALLOWED")
    page = await http.get("/", headers={"Host": host})
    assert page.status_code == 400
    # Probes answer whatever name the kubelet uses.
    assert (await http.get("/healthz", headers={"Host": host})).status_code == 200


async def test_every_answer_carries_the_security_headers(http):
    for path in ("/", "/jobs/x", "/v1/jobs", "/v1/nothing", "/auth/session", "/openapi.json"):
        response = await http.get(path)
        assert HEADERS <= set(response.headers), path
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


async def test_a_declared_huge_body_is_413_before_it_is_sent(gateway):
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(
        f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\nOrigin: {gateway.url}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {200 << 20}\r\n\r\n".encode()
    )
    await writer.drain()
    # No byte of the body sent: the gateway refuses on the header alone.
    status_line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


@pytest.fixture
async def gateway_process(service):
    """A gateway of its own in a subprocess, so its memory can be measured."""
    port = pgsage_stack.free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        env={
            **os.environ,
            "PGSAGE_GATEWAY_HTTP_PORT": str(port),
            "PGSAGE_GATEWAY_JOB_SERVICE_ADDRESS": service.address,
            "PGSAGE_GATEWAY_LOG_LEVEL": "WARNING",
        },
        cwd=str(pgsage_stack.REPO),
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(200):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        await process.wait()


def _upload_200_mb(port: int) -> tuple[bytes, int]:
    """Streams a 200 MB chunked body on one socket while another thread reads the answer;
    returns what was read and how many body bytes went out. Blocking sockets, so that a
    reset on the sending side does not discard the answer already received."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    )
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    sent = 0
    done = threading.Event()

    def send_body() -> None:
        nonlocal sent
        try:
            while sent < 200 << 20 and not done.is_set():
                sock.sendall(chunk)
                sent += 65536
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass

    sender = threading.Thread(target=send_body)
    sender.start()
    received = b""
    sock.settimeout(60)
    try:
        while b"BODY_TOO_LARGE" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
    except OSError:
        pass
    done.set()
    sock.close()
    sender.join()
    return received, sent


async def test_a_200_mb_streamed_body_is_cut_off_with_413_without_reaching_memory(
    gateway_process,
):
    port, gateway = gateway_process
    before = gateway.memory_info().rss
    received, sent = await asyncio.to_thread(_upload_200_mb, port)
    assert received.startswith(b"HTTP/1.1 413"), received[:200]
    assert b"BODY_TOO_LARGE" in received
    # The gateway answered before the body ended, and did not keep what it read.
    assert sent < 200 << 20
    assert gateway.memory_info().rss - before < 30 << 20


async def test_a_flood_from_one_client_gets_429_with_retry_after(service):
    async with pgsage_stack.gateway(
        service.address, rate_limit_per_second=0.5, rate_limit_burst=5
    ) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url) as http:
            statuses = [(await http.get("/v1/jobs")).status_code for _ in range(5)]
            assert statuses == [200] * 5
            limited = await http.get("/v1/jobs")
            assert error_of(limited)[:3] == (429, "RESOURCE_EXHAUSTED", "RATE_LIMITED")
            assert int(limited.headers["retry-after"]) >= 1
            assert "content-security-policy" in limited.headers
            assert (await http.get("/healthz")).status_code == 200
        # Another client (another loopback address) has a bucket of its own.
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=gateway.url, transport=transport) as other:
            assert (await other.get("/v1/jobs")).status_code == 200


async def test_more_change_streams_than_the_cap_get_429(service, create_job):
    job = await create_job()
    path = f"/v1/{job['name']}/events"
    async with pgsage_stack.gateway(service.address, max_streams_per_client=2) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=20) as http:

            async def open_stream():
                context = http.stream("GET", path)
                response = await context.__aenter__()
                return context, response

            first, second = await open_stream(), await open_stream()
            assert first[1].status_code == 200 and second[1].status_code == 200
            third = await http.get(path)
            assert error_of(third)[:3] == (429, "RESOURCE_EXHAUSTED", "TOO_MANY_STREAMS")
            assert int(third.headers["retry-after"]) >= 1
            await first[0].__aexit__(None, None, None)
            for _ in range(100):  # the gateway notices the closed stream
                again = await http.get("/v1/jobs")
                assert again.status_code == 200
                fourth = await open_stream()
                if fourth[1].status_code == 200:
                    break
                await fourth[0].__aexit__(None, None, None)
                await asyncio.sleep(0.05)
            assert fourth[1].status_code == 200
            await fourth[0].__aexit__(None, None, None)
            await second[0].__aexit__(None, None, None)
