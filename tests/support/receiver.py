"""A webhook receiver for tests: a real HTTP server (starlette on uvicorn, port 0) that
records every POST and answers as a script says (`ok`, `500`, `429`, `404`, `hang`).

A `hang` holds the request until the sender gives up (its timeout) or the test calls
`release()`; `held` counts requests being held right now.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        """Whether `X-Pgsage-Signature` is HMAC-SHA256 of `<t>.<body>` under `secret`."""
        header = self.headers.get("x-pgsage-signature", "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        if "t" not in parts or "v1" not in parts:
            return False
        mac = hmac.new(secret.encode(), f"{parts['t']}.".encode() + self.body, hashlib.sha256)
        return hmac.compare_digest(mac.hexdigest(), parts["v1"])


@dataclass
class Receiver:
    """What arrived, and how to answer the next requests (`ok` once the script runs out)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[str] = field(default_factory=list)
    held: int = 0
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self._release.set()

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        self.received.append(Received(request.url.path, dict(request.headers), body))
        answer = self.script.pop(0) if self.script else "ok"
        if answer == "hang":
            self.held += 1
            try:
                await self._release.wait()
            finally:
                self.held -= 1
            return Response("late", status_code=200)
        if answer == "ok":
            return Response("thanks", status_code=200)
        headers = {"Retry-After": "0"} if answer == "429" else {}
        return Response("no", status_code=int(answer), headers=headers)


@asynccontextmanager
async def receiver(path: str = "/hook") -> AsyncIterator[Receiver]:
    """A receiver at http://127.0.0.1:<port><path>, stopped when the block ends."""
    state = Receiver()
    app = Starlette(routes=[Route(path, state._handle, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server._serve())  # serve() would take over the signals
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield state
    finally:
        state.release()
        server.should_exit = True
        await task
