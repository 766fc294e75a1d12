"""Routes over jobs that go beyond one RPC: the result, the change stream (SSE), the patch."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway import errors, identity, patch, transcoding
from gateway.client import JobServiceClient
from gateway.settings import GatewaySettings
from job_service import vocabulary
from job_service.vocabulary import SuggestionState
from pgsage import errors as pgsage_errors
from pgsage import tasks
from pgsage.jobs.v1 import job_pb2, job_service_pb2

log = logging.getLogger(__name__)

# The job service's vocabulary names the finished states; here they are proto enum values.
TERMINAL = {job_pb2.Job.State.Value(state) for state in vocabulary.FINISHED_JOB_STATES}
_PAGE = 1000
_MAX_SUGGESTIONS = 10_000


def _parts(request: Request) -> tuple[JobServiceClient, GatewaySettings, str]:
    job_id = request.path_params["job"]
    if not re.fullmatch(r"[^/:]{1,200}", job_id):
        raise pgsage_errors.InvalidArgument("name", "a job id is one path segment")
    return request.app.state.client, request.app.state.settings, f"jobs/{job_id}"


async def _suggestions(request: Request, parent: str, filter_: str = "") -> list:
    client: JobServiceClient = request.app.state.client
    settings: GatewaySettings = request.app.state.settings
    found: list = []
    token = ""
    while len(found) < _MAX_SUGGESTIONS:
        page = await client.jobs.ListSuggestions(
            job_service_pb2.ListSuggestionsRequest(
                parent=parent, page_size=_PAGE, page_token=token, filter=filter_
            ),
            timeout=settings.call_timeout,
            metadata=identity.call_metadata(request),
        )
        found.extend(page.suggestions)
        token = page.next_page_token
        if not token:
            break
    return found


async def result(request: Request) -> JSONResponse:
    """202 with Retry-After while the job runs; 200 with the job and its suggestions after."""
    client, settings, name = _parts(request)
    job = await client.jobs.GetJob(
        job_service_pb2.GetJobRequest(name=name),
        timeout=settings.call_timeout,
        metadata=identity.call_metadata(request),
    )
    if job.state not in TERMINAL:
        return JSONResponse(
            {"job": transcoding.to_json(job)},
            status_code=202,
            headers={"Retry-After": str(settings.result_retry_after)},
        )
    suggestions = await _suggestions(request, name)
    return JSONResponse(
        {
            "job": transcoding.to_json(job),
            "suggestions": [transcoding.to_json(s) for s in suggestions if not s.superseded],
        }
    )


async def patch_sql(request: Request) -> Response:
    """The job's approved suggestions as one SQL script, as a download."""
    client, settings, name = _parts(request)
    job = await client.jobs.GetJob(
        job_service_pb2.GetJobRequest(name=name),
        timeout=settings.call_timeout,
        metadata=identity.call_metadata(request),
    )
    approved = await _suggestions(request, name, f"state = {SuggestionState.APPROVED}")
    # In the order the analysis found them, which is the order a reviewer read them in.
    approved = sorted(
        (s for s in approved if not s.superseded),
        key=lambda s: (s.create_time.ToNanoseconds(), s.name),
    )
    script = patch.render(job, approved)
    filename = f"pgsage-{name.removeprefix('jobs/')}.sql"
    return Response(
        script,
        media_type="application/sql; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _since(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("sinceRevision")
    raw = raw or request.query_params.get("since_revision") or "0"
    if not re.fullmatch(r"\d{1,18}", raw.strip()):
        raise pgsage_errors.InvalidArgument(
            "sinceRevision", f"Last-Event-ID / sinceRevision must be a revision number, not {raw!r}"
        )
    return int(raw)


def _event(change: job_service_pb2.WatchJobResponse) -> str:
    data = json.dumps(transcoding.to_json(change), separators=(",", ":"))
    return f"id: {change.revision}\ndata: {data}\n\n"


async def events(request: Request) -> Response:
    """The job's changes as Server-Sent Events; `id` is the revision, so a reconnecting
    browser resumes after the last one it saw (Last-Event-ID) with no gap. An `end` event
    says the job finished; a stream cut by its deadline ends without one, so clients retry."""
    client, settings, name = _parts(request)
    since = _since(request)
    call = client.jobs.WatchJob(
        job_service_pb2.WatchJobRequest(name=name, since_revision=since),
        timeout=settings.watch_timeout,
        metadata=identity.call_metadata(request),
    )
    try:
        first = await call.read()
    except BaseException:
        call.cancel()
        raise
    return StreamingResponse(
        _stream(call, first, settings),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(call, first, settings: GatewaySettings) -> AsyncIterator[str]:
    queue: asyncio.Queue = asyncio.Queue()

    async def pump() -> None:
        try:
            while True:
                item = await call.read()
                await queue.put(item)
                if item is grpc.aio.EOF:
                    return
        except grpc.RpcError as exc:
            await queue.put(exc)
        except asyncio.CancelledError:
            raise

    reader = None
    try:
        yield "retry: 2000\n\n"
        if first is grpc.aio.EOF:
            yield "event: end\ndata: {}\n\n"
            return
        yield _event(first)
        reader = asyncio.create_task(pump())
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), settings.sse_keepalive)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if item is grpc.aio.EOF:
                yield "event: end\ndata: {}\n\n"
                return
            if isinstance(item, grpc.RpcError):
                if item.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return  # the browser reconnects with Last-Event-ID
                body = errors.body_of(errors.status_from_rpc_error(item, "job service"), 503)
                yield f"event: error\ndata: {json.dumps(body)}\n\n"
                return
            yield _event(item)
    finally:
        if reader is not None:
            await tasks.stop(reader)
        call.cancel()
