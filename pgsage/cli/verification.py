"""`pgsage verify <suggestion>` (a VERIFY job now) and `pgsage suggestions show <suggestion>`
(one suggestion, its verdict and the numbers behind it)."""

from __future__ import annotations

import argparse
import json
import uuid
from typing import TextIO

from google.protobuf import json_format

from pgsage.cli import commands, render
from pgsage.cli.errors import FAILURE, OK
from pgsage.jobs.v1 import job_pb2, job_service_pb2
from pgsage.jobs.v1 import verification_pb2 as vpb

Change = vpb.QueryVerification.Change
_CHANGE = {
    Change.FASTER: "faster",
    Change.SLOWER: "slower",
    Change.UNCHANGED: "unchanged",
    Change.NOT_ENOUGH_EVIDENCE: "too few calls",
}


def add_parsers(sub, suggestions_sub) -> None:
    p = sub.add_parser(
        "verify",
        help="compare an APPLIED suggestion's queries since its change with before (a VERIFY job)",
    )
    p.add_argument("suggestion", help="jobs/<job>/suggestions/<id>, or <id> with --job")
    p.add_argument("--job")
    p.add_argument("--watch", action="store_true", help="wait for the verdict and print it")
    p.set_defaults(run=verify)
    p = suggestions_sub.add_parser("show", help="one suggestion, with its verification verdict")
    p.add_argument("suggestion", help="jobs/<job>/suggestions/<id>, or <id> with --job")
    p.add_argument("--job")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=show)


def verify(args: argparse.Namespace, out: TextIO) -> int:
    name = commands.suggestion_name(args.suggestion, args.job)
    with commands.client_for(args) as client:
        created = client.call(
            "VerifySuggestion",
            job_service_pb2.VerifySuggestionRequest(name=name, request_id=str(uuid.uuid4())),
        )
        if not args.watch:
            out.write(f"{created.name}\n")
            return OK
        try:
            finished = commands.watch(client, created.name)
        except KeyboardInterrupt:
            raise commands.Interrupted(
                f"stopped watching; the job goes on: pgsage jobs show {created.name}"
            ) from None
    if finished.state != job_pb2.Job.SUCCEEDED:
        out.write(f"{finished.name}: {job_pb2.Job.State.Name(finished.state).lower()}\n")
        if finished.error.message:
            out.write(f"error: {finished.error.message}\n")
        return FAILURE
    verification(finished.verification, out)
    return OK


def show(args: argparse.Namespace, out: TextIO) -> int:
    name = commands.suggestion_name(args.suggestion, args.job)
    with commands.client_for(args) as client:
        s = client.call("GetSuggestion", job_service_pb2.GetSuggestionRequest(name=name))
    if args.json:
        out.write(json.dumps(json_format.MessageToDict(s), indent=2) + "\n")
        return OK
    out.write(f"{s.name}\n")
    out.write(f"  {render.printable(s.title)}\n")
    out.write(f"  state: {render.state(s)}   target: {s.target}\n")
    for line in render.printable_lines(s.edited_sql or s.sql):
        out.write(f"  {line}\n")
    if s.failure_reason:
        out.write(f"  failure: {render.printable(s.failure_reason)}\n")
    if s.HasField("verification_result"):
        out.write("\n")
        verification(s.verification_result, out)
    elif s.state == s.APPLIED:
        out.write("\nverdict: not verified yet (pgsage verify " + s.name + " runs one now)\n")
    return OK


def verification(v: vpb.Verification, out: TextIO) -> None:
    """The verdict, why, the policy's action, and a table of the queries judged."""
    out.write(f"verdict: {vpb.Verdict.Name(v.verdict)}  ({v.job})\n")
    out.write(f"  {render.printable(v.reason)}\n")
    if v.policy_action:
        out.write(f"  policy: {render.printable(v.policy_action)}\n")
    if v.queries:
        render.table(
            [
                "QUERY",
                "CALLS BEFORE/AFTER",
                "MEAN BEFORE",
                "AFTER",
                "CHANGE",
                "P",
                "BLOCKS/CALL",
                "",
            ],
            [
                [
                    render.printable((("" if q.affected else "(table) ") + q.text)[:60]),
                    f"{q.before.calls}/{q.after.calls}",
                    f"{q.before.mean_ms:.2f} ms",
                    f"{q.after.mean_ms:.2f} ms",
                    f"{q.change_percent:+.0f}%",
                    f"{q.p_value:.2g}",
                    f"{q.before.shared_blks_hit_per_call + q.before.shared_blks_read_per_call:.0f}"
                    f"->{q.after.shared_blks_hit_per_call + q.after.shared_blks_read_per_call:.0f}",
                    _CHANGE.get(q.change, ""),
                ]
                for q in v.queries
            ],
            out,
        )
    if v.index.name:
        scans = f"{v.index.scans_since_apply} scans since the change" if v.index.exists else "gone"
        out.write(f"  index {v.index.name}: {scans}\n")
    if v.table.name:
        out.write(
            f"  table {v.table.name}: {v.table.writes_per_second_after:.1f} rows written/s since "
            f"the change; estimated write overhead {v.table.write_overhead_ms:.1f} ms "
            f"({v.table.write_overhead_percent:+.0f}%)\n"
        )
