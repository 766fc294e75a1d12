"""The CLI's commands against the job service's gRPC API (jobs, suggestions, analyze)."""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import grpc
from google.protobuf import json_format

from pgsage.cli import channel, credentials, render
from pgsage.cli.errors import FAILURE, INTERRUPTED, OK, USAGE, CliError, from_rpc
from pgsage.jobs.v1 import (
    job_pb2,
    job_service_pb2,
    job_service_pb2_grpc,
    suggestion_pb2,
    webhook_pb2_grpc,
)

Job = job_pb2.Job
Suggestion = suggestion_pb2.Suggestion
TERMINAL = {Job.SUCCEEDED, Job.FAILED, Job.CANCELLED}
ANALYSES = {
    "missing": job_pb2.MISSING_INDEXES,
    "unused": job_pb2.UNUSED_INDEXES,
    "duplicate": job_pb2.DUPLICATE_INDEXES,
}
_UUIDISH = re.compile(r"^[0-9a-fA-F-]{1,64}$")


def login_name() -> str:
    """The user's login name, or "" when the system cannot tell."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


class Client:
    """A channel to the job service with a deadline on every unary call, each carrying the
    caller's bearer token (`PGSAGE_TOKEN` or the one `pgsage login` stored, if any)."""

    def __init__(
        self,
        address: str,
        timeout: float,
        token: str = "",
        source: str = "",
        *,
        tls: bool = False,
        ca_file: str | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.channel = channel.open_channel(address, tls=tls, ca_file=ca_file, token=token)
        self.tls = tls or bool(ca_file)
        self.stub = job_service_pb2_grpc.JobServiceStub(self.channel)
        self.webhooks = webhook_pb2_grpc.WebhookServiceStub(self.channel)
        self.source = source if token else ""
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()

    def call(self, method: str, request):
        try:
            stub = self.stub if hasattr(self.stub, method) else self.webhooks
            return getattr(stub, method)(request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as exc:
            raise self.error(exc) from None

    def error(self, exc: grpc.RpcError) -> CliError:
        return from_rpc(exc, self.address, self.source, tls=self.tls)

    def close(self) -> None:
        self.channel.close()


class Interrupted(CliError):
    """Ctrl-C: the channel is left to the process's exit (closing it mid-stream can hang)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, INTERRUPTED)


@contextmanager
def client_for(args: argparse.Namespace) -> Iterator[Client]:
    token, source = credentials.current()
    client = Client(
        args.address,
        args.timeout,
        token,
        source,
        tls=getattr(args, "tls", False),
        ca_file=getattr(args, "ca_file", None),
    )
    try:
        yield client
    except (Interrupted, KeyboardInterrupt):
        raise
    except BaseException:
        client.close()
        raise
    client.close()


def job_name(value: str) -> str:
    value = value.strip().removeprefix("jobs/")
    if not value or "/" in value:
        raise CliError(f"{value!r} is not a job (give its id or jobs/<id>)", USAGE)
    return f"jobs/{value}"


def suggestion_name(value: str, job: str | None) -> str:
    value = value.strip()
    if value.startswith("jobs/"):
        if not re.fullmatch(r"jobs/[^/]+/suggestions/[^/]+", value):
            raise CliError(f"{value!r} is not a suggestion name", USAGE)
        return value
    if job is None or not _UUIDISH.match(value):
        raise CliError(
            "give the suggestion as jobs/<job>/suggestions/<id>, or its id with --job", USAGE
        )
    return f"{job_name(job)}/suggestions/{value}"


def dump(message, out: TextIO) -> None:
    out.write(json.dumps(json_format.MessageToDict(message), indent=2) + "\n")


def dump_list(messages, out: TextIO) -> None:
    out.write(json.dumps([json_format.MessageToDict(m) for m in messages], indent=2) + "\n")


def _all_suggestions(client: Client, parent: str, filter_: str = "") -> list[Suggestion]:
    found: list[Suggestion] = []
    token = ""
    while True:
        page = client.call(
            "ListSuggestions",
            job_service_pb2.ListSuggestionsRequest(
                parent=parent, page_size=500, page_token=token, filter=filter_
            ),
        )
        found.extend(s for s in page.suggestions if not s.superseded)
        token = page.next_page_token
        if not token:
            return found


def _state_filter(state: str | None, enum) -> str:
    if not state:
        return ""
    names = [n.strip().upper() for n in state.split(",") if n.strip()]
    for name in names:
        if name not in enum.keys() or name == "STATE_UNSPECIFIED":
            choices = ", ".join(k.lower() for k in enum.keys() if k != "STATE_UNSPECIFIED")
            raise CliError(f"unknown state {name.lower()!r} (one of: {choices})", USAGE)
    return f"state = ({', '.join(names)})" if len(names) > 1 else f"state = {names[0]}"


def _progress(job: Job) -> str:
    """`done` once succeeded (change jobs report no percent), else the percent reached."""
    if job.state == Job.SUCCEEDED:
        return "done"
    if job.state == Job.PENDING:
        return "waiting for a worker"
    detail = " · ".join(p for p in (job.progress.stage, job.progress.message) if p)
    reached = f"{job.progress.percent:.0f}%"
    if job.state in (Job.FAILED, Job.CANCELLED):
        reached = f"{render.state(job)} at {reached}"
    return f"{reached} · {detail}" if detail else reached


def _show_job(job: Job, out: TextIO) -> None:
    """`key:` and value, every value starting in the same column; long values wrap under it."""
    rows = [
        ("job", job.name),
        ("kind", Job.Kind.Name(job.kind).lower()),
        ("target", job.target),
        ("state", render.state(job)),
        ("progress", _progress(job)),
        ("attempt", f"{job.attempt} of {job.max_attempts}"),
        ("created", render.when(job.create_time)),
        ("requested by", job.creator or "-"),
        ("ended", render.when(job.end_time)),
    ]
    if job.suggestion:
        rows.append(("suggestion", job.suggestion))
    else:
        rows.append(("suggestions", str(job.counts.suggestions)))
    if job.HasField("summary"):
        s = job.summary
        rows.append(("improvement", f"{s.workload_improvement_percent:.1f}%"))
        rows.append(
            (
                "cost",
                f"{s.workload_cost_before:,.0f} -> {s.workload_cost_after:,.0f} planner cost units",
            )
        )
    if job.summary.HasField("comparison"):
        c = job.summary.comparison
        rows.append(
            (
                "since last",
                f"{c.new_count} new, {c.gone_count} gone, {c.changed_count} changed estimates "
                f"(compared with {c.previous_job})",
            )
        )
    if job.schedule:
        rows.append(("schedule", f"{job.schedule} (tick of {render.when(job.schedule_time)})"))
    if job.HasField("error") and job.error.message:
        rows.append(("error", job.error.message))
    width = max(len(key) for key, _ in rows) + 2
    for key, value in rows:
        lines = render.printable_lines(value.strip() or "-")
        out.write(f"{key + ':':<{width}}{lines[0]}\n")
        for more in lines[1:]:
            out.write(f"{'':<{width}}{more}\n")


def jobs_list(args: argparse.Namespace, out: TextIO) -> int:
    terms = [t for t in (_state_filter(args.state, Job.State),) if t]
    if args.target:
        terms.append(f"target = {json.dumps(args.target)}")
    with client_for(args) as client:
        page = client.call(
            "ListJobs",
            job_service_pb2.ListJobsRequest(page_size=args.limit, filter=" AND ".join(terms)),
        )
    if args.json:
        dump(page, out)
        return OK
    if not page.jobs:
        out.write("no jobs\n")
        return OK
    render.table(
        ["JOB", "KIND", "TARGET", "STATE", "PROGRESS", "SUGGESTIONS", "CREATED"],
        [
            [
                render.job_id(j.name),
                Job.Kind.Name(j.kind).lower(),
                j.target,
                render.state(j),
                "done" if j.state == Job.SUCCEEDED else f"{j.progress.percent:.0f}%",
                j.counts.suggestions,
                render.when(j.create_time),
            ]
            for j in page.jobs
        ],
        out,
    )
    return OK


def jobs_show(args: argparse.Namespace, out: TextIO) -> int:
    name = job_name(args.job)
    with client_for(args) as client:
        job = client.call("GetJob", job_service_pb2.GetJobRequest(name=name))
        items = _all_suggestions(client, name)
    if args.json:
        out.write(
            json.dumps(
                {
                    "job": json_format.MessageToDict(job),
                    "suggestions": [json_format.MessageToDict(s) for s in items],
                },
                indent=2,
            )
            + "\n"
        )
        return OK
    _show_job(job, out)
    out.write("\n")
    render.suggestions(items, out)
    return OK


def jobs_cancel(args: argparse.Namespace, out: TextIO) -> int:
    with client_for(args) as client:
        job = client.call("CancelJob", job_service_pb2.CancelJobRequest(name=job_name(args.job)))
    out.write(f"{job.name}: {render.state(job)}\n")
    return OK


def suggestions_list(args: argparse.Namespace, out: TextIO) -> int:
    parent = job_name(args.job) if args.job else "jobs/-"
    with client_for(args) as client:
        items = _all_suggestions(client, parent, _state_filter(args.state, Suggestion.State))
    if args.json:
        out.write(json.dumps([json_format.MessageToDict(s) for s in items], indent=2) + "\n")
        return OK
    render.suggestions(items, out)
    return OK


def suggestions_approve(args: argparse.Namespace, out: TextIO) -> int:
    name = suggestion_name(args.suggestion, args.job)
    with client_for(args) as client:
        s = client.call("ApproveSuggestion", job_service_pb2.ApproveSuggestionRequest(name=name))
    out.write(f"{s.name}: {render.state(s)}\n")
    return OK


def suggestions_dismiss(args: argparse.Namespace, out: TextIO) -> int:
    name = suggestion_name(args.suggestion, args.job)
    request = job_service_pb2.DismissSuggestionRequest(name=name, reason=args.reason or "")
    with client_for(args) as client:
        s = client.call("DismissSuggestion", request)
    out.write(f"{s.name}: {render.state(s)}\n")
    return OK


def analyze(args: argparse.Namespace, out: TextIO) -> int:
    job = Job(target=args.target, kind=Job.ANALYZE)
    for kind in args.analysis or []:
        job.analysis_types.append(ANALYSES[kind])
    if args.budget_mb is not None:
        if args.budget_mb < 0:
            raise CliError("--budget-mb must be 0 or more", USAGE)
        job.options.storage_budget_bytes = int(args.budget_mb * 1024 * 1024)
    request = job_service_pb2.CreateJobRequest(job=job, request_id=str(uuid.uuid4()))
    with client_for(args) as client:
        created = client.call("CreateJob", request)
        if not args.watch:
            out.write(f"{created.name}\n")
            return OK
        try:
            # Everything after the job exists: Ctrl-C anywhere here leaves it running.
            sys.stderr.write(f"{created.name} started on {created.target}\n")
            finished = watch(client, created.name)
            items = _all_suggestions(client, finished.name)
        except KeyboardInterrupt:
            raise Interrupted(
                f"stopped watching; the job goes on: pgsage jobs show {created.name}"
            ) from None
    out.write("\n")
    _show_job(finished, out)
    out.write("\n")
    render.suggestions(items, out)
    return OK if finished.state == Job.SUCCEEDED else FAILURE


def watch(client: Client, name: str) -> Job:
    """Follows the job to its end; resumes after a dropped stream from the last revision."""
    bar = render.ProgressBar()
    revision = 0
    last: Job | None = None
    try:
        for _ in range(100):
            stream = client.stub.WatchJob(
                job_service_pb2.WatchJobRequest(name=name, since_revision=revision),
                timeout=3600,
                metadata=client.metadata,
            )
            try:
                for change in stream:
                    revision = max(revision, change.revision)
                    last = change.job
                    bar.update(last)
            except KeyboardInterrupt:
                stream.cancel()
                raise
            except grpc.RpcError as exc:
                if exc.code() not in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    raise client.error(exc) from None
            if last is not None and last.state in TERMINAL:
                return last
            last = client.call("GetJob", job_service_pb2.GetJobRequest(name=name))
            if last.state in TERMINAL:
                return last
        raise CliError(f"lost track of {name}; see `pgsage jobs show {name}`", FAILURE)
    finally:
        bar.close()
