"""`pgsage`: the command line of pgsage (start the stack, run analyses, review suggestions).

Talks gRPC to the job service at `--address` (or `PGSAGE_ADDRESS`, default localhost:50051)
with a bearer token: `PGSAGE_TOKEN`, else the one `pgsage login` stored (see
`pgsage.cli.credentials`). The job service records who you are from it; `--actor` and
`PGSAGE_ACTOR` are accepted for old scripts and ignored, saying so.
Exit codes: 0 ok, 1 failure, 2 usage, 3 unavailable (see `pgsage.cli.errors`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

# gRPC's core logs handshake failures and the like to stderr; the CLI says what went wrong
# in one line of its own. Set before grpc is first imported.
_GRPC_VERBOSITY = os.environ.get("GRPC_VERBOSITY")
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from pgsage.cli import access, auditing, changes, commands, schedules, verification, webhooks  # noqa: E402
from pgsage.cli.errors import INTERRUPTED, USAGE, CliError  # noqa: E402
from pgsage.version import version  # noqa: E402

DEFAULT_ADDRESS = "localhost:50051"


def _up(args: argparse.Namespace, out) -> int:
    # Imported here: the embedded PostgreSQL package is slow to import and noisy about
    # XDG_RUNTIME_DIR, and no other command needs it.
    import warnings

    # The services `up` starts log as they would without the CLI.
    if _GRPC_VERBOSITY is None:
        os.environ.pop("GRPC_VERBOSITY", None)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgsage.cli import up

    return up.run(args, out)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # exit code 2 with a hint, as shells expect
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(USAGE)


def parser() -> argparse.ArgumentParser:
    root = _Parser(prog="pgsage", description="Find what would make PostgreSQL faster.")
    root.add_argument("--version", action="version", version=f"pgsage {version()}")
    root.add_argument(
        "--address",
        default=os.environ.get("PGSAGE_ADDRESS", DEFAULT_ADDRESS),
        help="job service host:port (env PGSAGE_ADDRESS; default %(default)s)",
    )
    root.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per call (default %(default)s)"
    )
    root.add_argument(
        "--tls",
        action="store_true",
        default=os.environ.get("PGSAGE_TLS", "").lower() in ("1", "true", "yes"),
        help="reach the job service over TLS, trusting the system's roots (env PGSAGE_TLS=1)",
    )
    root.add_argument(
        "--ca-file",
        default=os.environ.get("PGSAGE_CA_FILE") or None,
        help="reach the job service over TLS, trusting this CA bundle (env PGSAGE_CA_FILE)",
    )
    # Old scripts still pass it; the job service now knows who calls from the token.
    root.add_argument("--actor", help=argparse.SUPPRESS)
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("up", help="start the whole stack with the demo target")
    p.add_argument("--data-dir", default=".pgsage", help="where state and logs go")
    p.add_argument("--http-port", type=int, default=8080)
    p.add_argument("--jobs-port", type=int, default=50051)
    p.add_argument("--optimizer-port", type=int, default=50052)
    p.add_argument("--database-url", help="job store PostgreSQL (default: embedded)")
    p.add_argument("--demo-dsn", help="PostgreSQL server for the demo target (default: embedded)")
    p.add_argument(
        "--demo-scale", type=float, default=0.1, help="demo data size (1.0: 400k orders)"
    )
    p.add_argument("--demo-rounds", type=int, default=3, help="demo workload rounds")
    p.add_argument("--rebuild-demo", action="store_true", help="build the demo database again")
    p.add_argument(
        "--demo-rate",
        type=float,
        default=20.0,
        help="calls per second of the demo's background workload (0: none)",
    )
    p.add_argument(
        "--demo-verification-window",
        type=float,
        default=120.0,
        help="seconds an apply on the demo target waits for its verification",
    )
    p.add_argument(
        "--snapshot-interval",
        type=float,
        default=60.0,
        help="seconds between periodic workload snapshots of each target "
        "(PGSAGE_JOBS_SNAPSHOT_INTERVAL wins when set)",
    )
    p.set_defaults(run=_up)

    p = sub.add_parser("analyze", help="start an analysis of a target")
    p.add_argument("--target", required=True)
    p.add_argument(
        "--analysis",
        action="append",
        choices=sorted(commands.ANALYSES),
        help="what to look for (repeatable; default: all)",
    )
    p.add_argument("--budget-mb", type=float, help="storage budget for new indexes, in MB")
    p.add_argument("--watch", action="store_true", help="follow the job and print its results")
    p.set_defaults(run=commands.analyze)

    jobs = sub.add_parser("jobs", help="list, show or cancel jobs")
    jobs_sub = jobs.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = jobs_sub.add_parser("list", help="newest first")
    p.add_argument("--state", help="e.g. running, or pending,running")
    p.add_argument("--target")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=commands.jobs_list)
    p = jobs_sub.add_parser("show", help="one job and its suggestions")
    p.add_argument("job", help="job id or jobs/<id>")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=commands.jobs_show)
    p = jobs_sub.add_parser("cancel", help="cancel a job")
    p.add_argument("job")
    p.set_defaults(run=commands.jobs_cancel)

    sugg = sub.add_parser("suggestions", help="list, approve or dismiss suggestions")
    sugg_sub = sugg.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = sugg_sub.add_parser("list", help="of one job (--job) or of all jobs")
    p.add_argument("--job")
    p.add_argument("--state", help="e.g. pending, or approved,applied")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=commands.suggestions_list)
    for action, run in (
        ("approve", commands.suggestions_approve),
        ("dismiss", commands.suggestions_dismiss),
    ):
        p = sugg_sub.add_parser(action, help=f"{action} a suggestion")
        p.add_argument("suggestion", help="jobs/<job>/suggestions/<id>, or <id> with --job")
        p.add_argument("--job")
        if action == "dismiss":
            p.add_argument("--reason", help="why (kept in the audit trail)")
        p.set_defaults(run=run)
    changes.add_parsers(sub)
    verification.add_parsers(sub, sugg_sub)
    _access_commands(sub)
    webhooks.add_parsers(sub, _Parser)
    schedules.add_parsers(sub)
    return root


def _access_commands(sub) -> None:
    p = sub.add_parser("login", help="store an API token for later commands (read from stdin)")
    p.set_defaults(run=access.login)
    p = sub.add_parser("logout", help="remove the stored token")
    p.set_defaults(run=access.logout)
    p = sub.add_parser("whoami", help="who the job service takes you for, and your roles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=access.whoami)

    tokens = sub.add_parser("tokens", help="create, list or revoke API tokens (admin)")
    tokens_sub = tokens.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = tokens_sub.add_parser("create", help="a new token; its secret is printed once")
    p.add_argument("--name", required=True, help="who or what holds it (e.g. nightly-report)")
    p.add_argument(
        "--role",
        action="append",
        required=True,
        type=access.parse_role,
        help="ROLE or ROLE:target-pattern, e.g. operator:staging-* (repeatable)",
    )
    p.add_argument(
        "--expires",
        type=access.parse_expiry,
        default=access.parse_expiry("30d"),
        help="lifetime: 12h, 30d, 8w (default 30d; at most a year)",
    )
    p.set_defaults(run=access.tokens_create)
    p = tokens_sub.add_parser("list", help="active tokens (--all: revoked and expired too)")
    p.add_argument("--all", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=access.tokens_list)
    p = tokens_sub.add_parser("revoke", help="revoke a token at once")
    p.add_argument("token", help="apiTokens/<id>")
    p.set_defaults(run=access.tokens_revoke)

    audit = sub.add_parser("audit", help="read the audit trail or verify its hash chain")
    audit_sub = audit.add_subparsers(dest="action", required=True, parser_class=_Parser)
    p = audit_sub.add_parser("list", help="newest first")
    p.add_argument(
        "--filter",
        help='e.g. \'actor = "alice" AND target = "prod"\' (fields: resource, job, target, '
        "action, actor, on_behalf_of, time)",
    )
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=auditing.list_records)
    p = audit_sub.add_parser(
        "verify", help="recompute the hash chain (admin); exit 1 naming the first bad record"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=auditing.verify)


def _ignored_actor(args: argparse.Namespace) -> None:
    if args.actor is not None or os.environ.get("PGSAGE_ACTOR"):
        sys.stderr.write(
            "pgsage: --actor / PGSAGE_ACTOR is ignored: the job service records who you are "
            "from your token (PGSAGE_TOKEN or `pgsage login`)\n"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _ignored_actor(args)
    try:
        return args.run(args, sys.stdout)
    except CliError as exc:
        sys.stderr.write(f"pgsage: {exc.message}\n")
        if exc.code == INTERRUPTED:
            # A gRPC channel interrupted mid-stream can block its own clean-up (close or
            # garbage collection waits on the call forever): leave at once, as Ctrl-C means.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code)
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write("\npgsage: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
