"""`pgsage schedules ...`: analyses on a cron expression (the job service's ScheduleService).

    pgsage schedules create --target demo --cron '0 3 * * *' --time-zone Europe/Paris
    pgsage schedules list [--target demo]
    pgsage schedules show schedules/<id>
    pgsage schedules update schedules/<id> --cron '0 4 * * *'
    pgsage schedules pause|resume|delete schedules/<id>

A schedule is named `schedules/<id>` or by its bare id.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import TextIO

import grpc

from pgsage.cli import commands, render
from pgsage.cli.errors import OK, USAGE, CliError
from pgsage.jobs.v1 import job_pb2, schedule_pb2, schedule_pb2_grpc

Schedule = schedule_pb2.Schedule
_NAME = re.compile(r"schedules/[0-9A-Za-z-]{1,64}")


def add_parsers(sub) -> None:
    """The `schedules` command and its actions."""
    schedules = sub.add_parser("schedules", help="analyses on a cron expression")
    # The nested actions parse (and fail with exit code 2) as the root's parser does.
    actions = schedules.add_subparsers(dest="action", required=True, parser_class=type(schedules))

    p = actions.add_parser("list", help="newest first")
    p.add_argument("--target")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=list_schedules)

    p = actions.add_parser("create", help="a new schedule")
    p.add_argument("--target", required=True)
    p.add_argument("--cron", required=True, help="e.g. '0 3 * * *' (6 fields: seconds last)")
    _settings_flags(p)
    p.set_defaults(run=create)

    p = actions.add_parser("show", help="one schedule")
    p.add_argument("schedule", help="schedules/<id> or <id>")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=show)

    p = actions.add_parser("update", help="change what is given, keep the rest")
    p.add_argument("schedule", help="schedules/<id> or <id>")
    p.add_argument("--target")
    p.add_argument("--cron")
    _settings_flags(p)
    p.set_defaults(run=update)

    for action, run, text in (
        ("pause", pause, "stop creating jobs until resumed"),
        ("resume", resume, "create jobs again, from the next tick"),
        ("delete", delete, "delete it (its jobs stay)"),
    ):
        p = actions.add_parser(action, help=text)
        p.add_argument("schedule", help="schedules/<id> or <id>")
        p.set_defaults(run=run)


def _settings_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-zone", help="IANA name, e.g. Europe/Paris (default UTC)")
    p.add_argument("--name", dest="display_name", help="what to call it")
    p.add_argument(
        "--analysis",
        action="append",
        choices=sorted(commands.ANALYSES),
        help="what each run looks for (repeatable; default: all)",
    )
    p.add_argument("--budget-mb", type=float, help="storage budget for new indexes, in MB")


def schedule_name(value: str) -> str:
    value = value.strip()
    name = value if value.startswith("schedules/") else f"schedules/{value}"
    if not _NAME.fullmatch(name):
        raise CliError(f"{value!r} is not a schedule (give its id or schedules/<id>)", USAGE)
    return name


def _call(client: commands.Client, method: str, request):
    stub = schedule_pb2_grpc.ScheduleServiceStub(client.channel)
    try:
        return getattr(stub, method)(request, timeout=client.timeout, metadata=client.metadata)
    except grpc.RpcError as exc:
        raise client.error(exc) from None


def _settings(args: argparse.Namespace) -> tuple[Schedule, list[str]]:
    """The schedule the flags describe, and the fields they set (an update's mask)."""
    schedule = Schedule()
    paths = []
    for flag, field in (
        ("target", "target"),
        ("cron", "cron"),
        ("time_zone", "time_zone"),
        ("display_name", "display_name"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            setattr(schedule, field, value)
            paths.append(field)
    if args.analysis:
        schedule.analysis_types.extend(commands.ANALYSES[a] for a in args.analysis)
        paths.append("analysis_types")
    if args.budget_mb is not None:
        if args.budget_mb <= 0:
            raise CliError("--budget-mb must be positive", USAGE)
        schedule.options.CopyFrom(
            job_pb2.AnalysisOptions(storage_budget_bytes=int(args.budget_mb * 1024 * 1024))
        )
        paths.append("options")
    return schedule, paths


def _analyses(s: Schedule) -> str:
    return ", ".join(job_pb2.AnalysisType.Name(t).lower() for t in s.analysis_types) or "all"


def _show(s: Schedule, out: TextIO) -> None:
    rows = [
        ("schedule", s.name),
        ("name", s.display_name or "-"),
        ("target", s.target),
        ("cron", f"{s.cron} ({s.time_zone or 'UTC'})"),
        ("analyses", _analyses(s)),
        ("state", "paused" if s.paused else "active"),
        ("next run", render.when(s.next_run_time)),
        ("last run", render.when(s.last_run_time)),
        ("last job", s.last_job or "-"),
        ("created", f"{render.when(s.create_time)} by {s.creator or '-'}"),
    ]
    if s.options.storage_budget_bytes:
        rows.insert(5, ("budget", render.size(s.options.storage_budget_bytes)))
    width = max(len(key) for key, _ in rows) + 2
    for key, value in rows:
        out.write(f"{key + ':':<{width}}{render.printable(value)}\n")


def list_schedules(args: argparse.Namespace, out: TextIO) -> int:
    found: list[Schedule] = []
    token = ""
    flt = f"target = {json.dumps(args.target)}" if args.target else ""
    with commands.client_for(args) as client:
        while True:
            page = _call(
                client,
                "ListSchedules",
                schedule_pb2.ListSchedulesRequest(page_size=500, page_token=token, filter=flt),
            )
            found.extend(page.schedules)
            token = page.next_page_token
            if not token:
                break
    if args.json:
        commands.dump_list(found, out)
        return OK
    if not found:
        out.write("no schedules\n")
        return OK
    render.table(
        ["SCHEDULE", "NAME", "TARGET", "CRON", "STATE", "NEXT RUN", "LAST JOB"],
        [
            [
                s.name.removeprefix("schedules/"),
                s.display_name or "-",
                s.target,
                f"{s.cron} ({s.time_zone or 'UTC'})",
                "paused" if s.paused else "active",
                render.when(s.next_run_time),
                render.job_id(s.last_job) if s.last_job else "-",
            ]
            for s in found
        ],
        out,
    )
    return OK


def create(args: argparse.Namespace, out: TextIO) -> int:
    schedule, _ = _settings(args)
    with commands.client_for(args) as client:
        created = _call(
            client, "CreateSchedule", schedule_pb2.CreateScheduleRequest(schedule=schedule)
        )
    _show(created, out)
    return OK


def show(args: argparse.Namespace, out: TextIO) -> int:
    name = schedule_name(args.schedule)
    with commands.client_for(args) as client:
        found = _call(client, "GetSchedule", schedule_pb2.GetScheduleRequest(name=name))
    if args.json:
        commands.dump(found, out)
    else:
        _show(found, out)
    return OK


def update(args: argparse.Namespace, out: TextIO) -> int:
    schedule, paths = _settings(args)
    if not paths:
        raise CliError("nothing to update: give --cron, --target, --time-zone, ...", USAGE)
    schedule.name = schedule_name(args.schedule)
    request = schedule_pb2.UpdateScheduleRequest(schedule=schedule)
    request.update_mask.paths.extend(paths)
    with commands.client_for(args) as client:
        updated = _call(client, "UpdateSchedule", request)
    _show(updated, out)
    return OK


def pause(args: argparse.Namespace, out: TextIO) -> int:
    name = schedule_name(args.schedule)
    with commands.client_for(args) as client:
        paused = _call(client, "PauseSchedule", schedule_pb2.PauseScheduleRequest(name=name))
    out.write(f"{paused.name}: paused\n")
    return OK


def resume(args: argparse.Namespace, out: TextIO) -> int:
    name = schedule_name(args.schedule)
    with commands.client_for(args) as client:
        resumed = _call(client, "ResumeSchedule", schedule_pb2.ResumeScheduleRequest(name=name))
    out.write(f"{resumed.name}: active, next run {render.when(resumed.next_run_time)}\n")
    return OK


def delete(args: argparse.Namespace, out: TextIO) -> int:
    name = schedule_name(args.schedule)
    with commands.client_for(args) as client:
        _call(client, "DeleteSchedule", schedule_pb2.DeleteScheduleRequest(name=name))
    out.write(f"{name}: deleted (its jobs stay)\n")
    return OK
