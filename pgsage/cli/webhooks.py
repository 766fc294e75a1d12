"""`pgsage webhooks list|create|delete|test|deliveries`: webhook destinations from a shell.

A secret is never taken from the command line (shell history, `ps`): `create
--secret-stdin` reads it from standard input (a hidden prompt on a terminal). No command
prints one; the job service never returns it.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from typing import TextIO

from pgsage.cli import commands, render
from pgsage.cli.errors import OK, USAGE, CliError
from pgsage.jobs.v1 import webhook_pb2

EVENTS = [
    e for e in webhook_pb2.WebhookEventType.keys() if e not in ("PING",) and "UNSPEC" not in e
]
Delivery = webhook_pb2.WebhookDelivery


def parse_event(value: str) -> int:
    name = value.strip().upper().replace("-", "_")
    if name not in EVENTS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an event; one of {', '.join(e.lower() for e in EVENTS)}"
        )
    return webhook_pb2.WebhookEventType.Value(name)


def add_parsers(sub, parser_class) -> None:
    hooks = sub.add_parser("webhooks", help="webhook destinations and their deliveries")
    hooks_sub = hooks.add_subparsers(dest="action", required=True, parser_class=parser_class)
    p = hooks_sub.add_parser("list", help="every destination (URLs whole for admins only)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=list_webhooks)
    p = hooks_sub.add_parser("create", help="a new destination (admin)")
    p.add_argument("--name", required=True, help="what to call it (e.g. dba-slack)")
    p.add_argument("--url", required=True, help="http(s) URL to POST to")
    p.add_argument(
        "--event",
        action="append",
        required=True,
        type=parse_event,
        help="repeatable: " + ", ".join(e.lower() for e in EVENTS),
    )
    p.add_argument("--target", default="", help="only targets matching this pattern (prod-*)")
    p.add_argument("--format", choices=["generic", "slack"], default="generic")
    p.add_argument("--secret-stdin", action="store_true", help="read the signing secret from stdin")
    p.add_argument("--disabled", action="store_true", help="create it disabled")
    p.set_defaults(run=create)
    p = hooks_sub.add_parser("delete", help="delete a destination and its history (admin)")
    p.add_argument("webhook", help="webhooks/<id> or <id>")
    p.set_defaults(run=delete)
    p = hooks_sub.add_parser("test", help="queue a PING to a destination (admin)")
    p.add_argument("webhook", help="webhooks/<id> or <id>")
    p.set_defaults(run=test)
    p = hooks_sub.add_parser("deliveries", help="a destination's deliveries, newest first")
    p.add_argument("webhook", help="webhooks/<id> or <id>")
    p.add_argument("--state", choices=["pending", "delivered", "failed"])
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=list_deliveries)


def _name(value: str) -> str:
    name = value.strip()
    name = name if name.startswith("webhooks/") else f"webhooks/{name}"
    if not re.fullmatch(r"webhooks/[0-9A-Za-z-]{1,64}", name):
        raise CliError(f"{value!r} is not a webhook (webhooks/<id>)", USAGE)
    return name


def _events(hook: webhook_pb2.Webhook) -> str:
    return ",".join(webhook_pb2.WebhookEventType.Name(e).lower() for e in hook.event_types)


def list_webhooks(args: argparse.Namespace, out: TextIO) -> int:
    found: list[webhook_pb2.Webhook] = []
    token = ""
    with commands.client_for(args) as client:
        while True:
            page = client.call(
                "ListWebhooks", webhook_pb2.ListWebhooksRequest(page_size=500, page_token=token)
            )
            found.extend(page.webhooks)
            token = page.next_page_token
            if not token:
                break
    if args.json:
        commands.dump_list(found, out)
        return OK
    if not found:
        out.write("no webhooks\n")
        return OK
    render.table(
        ["WEBHOOK", "NAME", "URL", "EVENTS", "TARGETS", "FORMAT", "SIGNED", "ENABLED"],
        [
            [
                h.name,
                h.display_name,
                h.url,
                _events(h),
                h.target_filter or "*",
                webhook_pb2.WebhookFormat.Name(h.format).lower(),
                "yes" if h.has_secret else "no",
                "yes" if h.enabled else "no",
            ]
            for h in found
        ],
        out,
    )
    return OK


def _read_secret() -> str:
    if sys.stdin.isatty():
        try:
            return getpass.getpass("webhook secret (input hidden): ")
        except EOFError:
            return ""
    return sys.stdin.readline().rstrip("\r\n")


def create(args: argparse.Namespace, out: TextIO) -> int:
    secret = _read_secret() if args.secret_stdin else ""
    if args.secret_stdin and not secret:
        raise CliError("--secret-stdin: no secret on standard input", USAGE)
    hook = webhook_pb2.Webhook(
        display_name=args.name,
        url=args.url,
        event_types=args.event,
        target_filter=args.target,
        format=webhook_pb2.WebhookFormat.Value(args.format.upper()),
        secret=secret,
        enabled=not args.disabled,
    )
    with commands.client_for(args) as client:
        created = client.call("CreateWebhook", webhook_pb2.CreateWebhookRequest(webhook=hook))
    signed = "signed" if created.has_secret else "not signed (no secret)"
    out.write(f"{created.name}: {created.display_name}, {_events(created)}, {signed}\n")
    return OK


def delete(args: argparse.Namespace, out: TextIO) -> int:
    name = _name(args.webhook)
    with commands.client_for(args) as client:
        client.call("DeleteWebhook", webhook_pb2.DeleteWebhookRequest(name=name))
    out.write(f"{name}: deleted\n")
    return OK


def test(args: argparse.Namespace, out: TextIO) -> int:
    name = _name(args.webhook)
    with commands.client_for(args) as client:
        queued = client.call("TestWebhook", webhook_pb2.TestWebhookRequest(name=name))
    out.write(f"{queued.name}: PING queued (see `pgsage webhooks deliveries {name}`)\n")
    return OK


def _last(d: webhook_pb2.WebhookDelivery) -> str:
    if not d.attempts:
        return "-"
    last = d.attempts[-1]
    return "delivered" if last.delivered else last.error


def list_deliveries(args: argparse.Namespace, out: TextIO) -> int:
    name = _name(args.webhook)
    if not 1 <= args.limit <= 1000:
        raise CliError("--limit is 1 to 1000", USAGE)
    flt = f"state = {args.state.upper()}" if args.state else ""
    with commands.client_for(args) as client:
        page = client.call(
            "ListWebhookDeliveries",
            webhook_pb2.ListWebhookDeliveriesRequest(parent=name, page_size=args.limit, filter=flt),
        )
    if args.json:
        commands.dump_list(page.deliveries, out)
        return OK
    if not page.deliveries:
        out.write("no deliveries\n")
        return OK
    render.table(
        ["DELIVERY", "EVENT", "TARGET", "STATE", "ATTEMPTS", "LAST", "CREATED"],
        [
            [
                d.name.rsplit("/", 1)[1],
                webhook_pb2.WebhookEventType.Name(d.event_type).lower(),
                d.target or "-",
                Delivery.State.Name(d.state).lower(),
                len(d.attempts),
                _last(d),
                render.when(d.create_time),
            ]
            for d in page.deliveries
        ],
        out,
    )
    return OK
