"""`pgsage benchmark|apply|rollback <suggestion>` and `pgsage targets`: what the UI's buttons
do, from a shell.

APPLY and ROLLBACK say first exactly what will run where, with which timeouts, and ask
(`--yes` answers for scripts; without a terminal and without `--yes` nothing runs). With
`--watch` the command follows the job to its end, the build's progress included, and exits
0 only if it succeeded; Ctrl-C stops watching, never the job (`pgsage jobs cancel` does).
"""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import TextIO

from google.protobuf import duration_pb2

from pgsage.cli import commands
from pgsage.cli.errors import FAILURE, OK, USAGE, CliError
from pgsage.jobs.v1 import job_pb2, job_service_pb2

Job = job_pb2.Job
KINDS = {"benchmark": Job.BENCHMARK, "apply": Job.APPLY, "rollback": Job.ROLLBACK}


def _seconds(value: float | None, flag: str, lowest: float) -> duration_pb2.Duration | None:
    if value is None:
        return None
    if not lowest <= value <= 24 * 3600:
        low = "0 (none)" if lowest == 0 else "more than 0"
        raise CliError(f"{flag} is {low} to 86400 seconds", USAGE)
    d = duration_pb2.Duration()
    d.FromMilliseconds(int(value * 1000))
    return d


def _shown(d: duration_pb2.Duration) -> str:
    ms = d.ToMilliseconds()
    return "none" if ms == 0 else f"{ms / 1000:g} s"


def add_parsers(sub) -> None:
    for kind in KINDS:
        p = sub.add_parser(kind, help=f"{kind} a suggestion on its target (a {kind.upper()} job)")
        p.add_argument("suggestion", help="jobs/<job>/suggestions/<id>, or <id> with --job")
        p.add_argument("--job")
        p.add_argument("--watch", action="store_true", help="follow the job to its end")
        if kind != "benchmark":
            p.add_argument(
                "--build-timeout",
                type=float,
                help="seconds the change statement may run (0: no limit; default: the target's)",
            )
            p.add_argument(
                "--lock-timeout",
                type=float,
                help="seconds each lock wait may take (default: the target's)",
            )
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        p.set_defaults(run=run_change, kind=kind)
    p = sub.add_parser("targets", help="the targets, their engines and change timeouts")
    p.set_defaults(run=targets)


def run_change(args: argparse.Namespace, out: TextIO) -> int:
    name = commands.suggestion_name(args.suggestion, args.job)
    kind = KINDS[args.kind]
    options = job_pb2.ChangeOptions()
    if kind != Job.BENCHMARK:
        build = _seconds(args.build_timeout, "--build-timeout", 0)
        lock = _seconds(args.lock_timeout, "--lock-timeout", 0.001)
        if build is not None:
            options.build_timeout.CopyFrom(build)
        if lock is not None:
            options.lock_timeout.CopyFrom(lock)
    with commands.client_for(args) as client:
        s = client.call("GetSuggestion", job_service_pb2.GetSuggestionRequest(name=name))
        if kind != Job.BENCHMARK:
            listed = client.call("ListTargets", job_service_pb2.ListTargetsRequest())
            known = {t.name: t for t in listed.targets}.get(s.target)
            build_d = options.build_timeout if options.HasField("build_timeout") else None
            lock_d = options.lock_timeout if options.HasField("lock_timeout") else None
            if known is not None:
                build_d = build_d or known.build_timeout
                lock_d = lock_d or known.lock_timeout
            sql = _statement(kind, s)
            default = "the target's default"
            build_text = _shown(build_d) if build_d is not None else default
            lock_text = _shown(lock_d) if lock_d is not None else default
            sys.stderr.write(
                f"{args.kind.upper()} on target {s.target}:\n  {sql}\n"
                f"build timeout: {build_text}; lock timeout: {lock_text}\n"
            )
            if not args.yes:
                _confirm(f"{args.kind} on {s.target}?")
        job = Job(kind=kind, target=s.target, suggestion=s.name)
        if options.ListFields():
            job.change_options.CopyFrom(options)
        created = client.call(
            "CreateJob",
            job_service_pb2.CreateJobRequest(job=job, request_id=str(uuid.uuid4())),
        )
        if not args.watch:
            out.write(f"{created.name}\n")
            return OK
        try:
            sys.stderr.write(f"{created.name} started on {created.target}\n")
            finished = commands.watch(client, created.name)
        except KeyboardInterrupt:
            raise commands.Interrupted(
                f"stopped watching; the job goes on: pgsage jobs show {created.name}"
            ) from None
    out.write(f"{finished.name}: {job_pb2.Job.State.Name(finished.state).lower()}\n")
    if finished.error.message:
        out.write(f"error: {finished.error.message}\n")
    return OK if finished.state == Job.SUCCEEDED else FAILURE


def _statement(kind: int, s) -> str:
    if kind == Job.ROLLBACK:
        return (s.edited_rollback_sql or s.rollback_sql) if s.edited_sql else s.rollback_sql
    return s.edited_sql or s.sql


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise CliError("nothing ran: confirm with --yes (stdin is not a terminal)", USAGE)
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CliError("nothing ran", FAILURE)


def targets(args: argparse.Namespace, out: TextIO) -> int:
    with commands.client_for(args) as client:
        listed = client.call("ListTargets", job_service_pb2.ListTargetsRequest())
    rows = [("TARGET", "REACHABLE", "ENGINE", "APPLY", "BUILD TIMEOUT", "LOCK TIMEOUT")]
    for t in listed.targets:
        rows.append(
            (
                t.name,
                "yes" if t.reachable else f"no: {t.unreachable_reason}",
                t.what_if_engine,
                "allowed" if t.apply_allowed else "no",
                _shown(t.build_timeout),
                _shown(t.lock_timeout),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return OK
