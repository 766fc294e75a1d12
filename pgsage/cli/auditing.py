"""`pgsage audit list` and `pgsage audit verify`: read the audit trail and check its chain."""

from __future__ import annotations

import argparse
from typing import TextIO

from pgsage.cli import commands, render
from pgsage.cli.errors import FAILURE, OK, USAGE, CliError
from pgsage.jobs.v1 import access_pb2, job_service_pb2

# Verifying a long trail takes a while: at least this long, whatever --timeout says.
VERIFY_TIMEOUT = 600.0


def verify(args: argparse.Namespace, out: TextIO) -> int:
    """Exit 0 when the chain is intact, 1 naming the first bad record."""
    with commands.client_for(args) as client:
        client.timeout = max(client.timeout, VERIFY_TIMEOUT)
        result = client.call("VerifyAuditTrail", access_pb2.VerifyAuditTrailRequest())
    if args.json:
        commands.dump(result, out)
    elif result.intact:
        out.write(f"intact: {result.records_checked} records checked. {result.message}\n")
    else:
        out.write(
            f"NOT intact: {result.problem} {result.first_bad_record} "
            f"(after {result.records_checked} records checked). {result.message}\n"
        )
    return OK if result.intact else FAILURE


def list_records(args: argparse.Namespace, out: TextIO) -> int:
    """Newest first, up to --limit, with the server's filter syntax."""
    if args.limit < 1:
        raise CliError("--limit must be 1 or more", USAGE)
    found: list = []
    token = ""
    with commands.client_for(args) as client:
        while len(found) < args.limit:
            page = client.call(
                "ListAuditRecords",
                job_service_pb2.ListAuditRecordsRequest(
                    page_size=min(args.limit - len(found), 500),
                    page_token=token,
                    filter=args.filter or "",
                ),
            )
            found.extend(page.audit_records)
            token = page.next_page_token
            if not token:
                break
    if args.json:
        commands.dump_list(found, out)
        return OK
    if not found:
        out.write("no audit records\n")
        return OK
    render.table(
        ["TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "RESOURCE"],
        [
            [
                render.when(r.time),
                r.actor + (f" ({r.actor_subject})" if r.actor_subject else ""),
                r.action,
                r.outcome,
                r.target or "-",
                r.resource,
            ]
            for r in found
        ],
        out,
    )
    return OK
