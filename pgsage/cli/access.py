"""Who you are to pgsage: `login`, `logout`, `whoami`, and API tokens (`tokens ...`).

`login` checks a token with GetCaller before storing it (`pgsage.cli.credentials`); no
command prints a token, except `tokens create`, once, for the secret it just made.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TextIO

from google.protobuf import timestamp_pb2

from pgsage.cli import commands, credentials, render
from pgsage.cli.errors import OK, USAGE, CliError
from pgsage.jobs.v1 import access_pb2

ROLES = [r for r in access_pb2.Role.keys() if r != "ROLE_UNSPECIFIED"]
_DURATION = re.compile(r"^(\d{1,4})([hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def _read_token(stdin: TextIO) -> str:
    if stdin.isatty():
        try:
            return getpass.getpass("API token (input hidden): ")
        except EOFError:
            return ""
    return stdin.readline()


def login(args: argparse.Namespace, out: TextIO) -> int:
    """Reads a token (stdin, or a hidden prompt), checks it, and stores it for later calls."""
    token = credentials.check(_read_token(sys.stdin), "the token given")
    client = commands.Client(
        args.address, args.timeout, token, "the token given", tls=args.tls, ca_file=args.ca_file
    )
    try:
        caller = client.call("GetCaller", access_pb2.GetCallerRequest())
    finally:
        client.close()
    path = credentials.store(token)
    out.write(f"signed in as {_who(caller)}; the token is stored in {path}\n")
    if os.environ.get(credentials.ENV, "").strip():
        out.write(f"{credentials.ENV} is set in this environment and is used instead\n")
    return OK


def logout(args: argparse.Namespace, out: TextIO) -> int:
    removed = credentials.remove()
    out.write(f"signed out: removed {removed}\n" if removed else "no stored token to remove\n")
    if os.environ.get(credentials.ENV, "").strip():
        out.write(f"{credentials.ENV} is still set in this environment: unset it too\n")
    return OK


def whoami(args: argparse.Namespace, out: TextIO) -> int:
    with commands.client_for(args) as client:
        caller = client.call("GetCaller", access_pb2.GetCallerRequest())
    if args.json:
        commands.dump(caller, out)
        return OK
    rows = [
        ("subject", caller.subject),
        ("name", caller.display_name),
        ("method", _method(caller.auth_method)),
        ("roles", _bindings(caller.role_bindings) or "none"),
    ]
    if caller.local_mode:
        rows.append(("mode", "local (no identity provider: the OS user, with every role)"))
    if caller.two_person_targets:
        rows.append(("two-person", ", ".join(caller.two_person_targets)))
    for key, value in rows:
        out.write(f"{key + ':':<12}{value}\n")
    return OK


def _who(caller: access_pb2.Caller) -> str:
    return f"{caller.display_name} ({caller.subject}, {_method(caller.auth_method)})"


def _method(value: int) -> str:
    return access_pb2.AuthMethod.Name(value).replace("_", " ").lower()


def _bindings(bindings) -> str:
    return ", ".join(
        f"{access_pb2.Role.Name(b.role).lower()} on {b.targets or '*'}" for b in bindings
    )


def parse_role(value: str) -> access_pb2.RoleBinding:
    """`OPERATOR` or `OPERATOR:staging-*` as a role binding (argparse type)."""
    role, _, targets = value.partition(":")
    if role.strip().upper() not in ROLES:
        raise argparse.ArgumentTypeError(
            f"unknown role {role!r} (one of: {', '.join(r.lower() for r in ROLES)}; "
            "optionally :<target pattern>)"
        )
    return access_pb2.RoleBinding(
        role=access_pb2.Role.Value(role.strip().upper()), targets=targets.strip() or "*"
    )


def parse_expiry(value: str) -> timedelta:
    """`12h`, `30d` or `8w` (argparse type)."""
    match = _DURATION.match(value.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a lifetime like 12h, 30d or 8w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def tokens_create(args: argparse.Namespace, out: TextIO) -> int:
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(datetime.now(UTC) + args.expires)
    token = access_pb2.ApiToken(display_name=args.name, role_bindings=args.role, expire_time=expire)
    with commands.client_for(args) as client:
        created = client.call("CreateApiToken", access_pb2.CreateApiTokenRequest(api_token=token))
    t = created.api_token
    sys.stderr.write(
        f"created {t.name} ({t.display_name}: {_bindings(t.role_bindings)}; expires "
        f"{render.when(t.expire_time)})\n"
        "This secret is shown only now (pgsage keeps only a hash of it): store it safely.\n"
    )
    out.write(created.secret + "\n")
    return OK


def tokens_list(args: argparse.Namespace, out: TextIO) -> int:
    found: list[access_pb2.ApiToken] = []
    token = ""
    with commands.client_for(args) as client:
        while True:
            page = client.call(
                "ListApiTokens",
                access_pb2.ListApiTokensRequest(
                    page_size=500, page_token=token, show_inactive=args.all
                ),
            )
            found.extend(page.api_tokens)
            token = page.next_page_token
            if not token:
                break
    if args.json:
        commands.dump_list(found, out)
        return OK
    if not found:
        out.write("no API tokens\n")
        return OK
    render.table(
        ["TOKEN", "NAME", "ROLES", "STATUS", "EXPIRES", "LAST USED", "CREATOR"],
        [
            [
                t.name,
                t.display_name,
                _bindings(t.role_bindings),
                _status(t),
                render.when(t.expire_time),
                render.when(t.last_use_time),
                t.creator or "-",
            ]
            for t in found
        ],
        out,
    )
    return OK


def _status(t: access_pb2.ApiToken) -> str:
    if t.HasField("revoke_time"):
        return "revoked"
    if t.expire_time.ToDatetime(tzinfo=UTC) <= datetime.now(UTC):
        return "expired"
    return "active"


def tokens_revoke(args: argparse.Namespace, out: TextIO) -> int:
    name = args.token.strip()
    name = name if name.startswith("apiTokens/") else f"apiTokens/{name}"
    if not re.fullmatch(r"apiTokens/[0-9A-Za-z-]{1,64}", name):
        raise CliError(f"{args.token!r} is not a token name (apiTokens/<id>)", USAGE)
    with commands.client_for(args) as client:
        revoked = client.call("RevokeApiToken", access_pb2.RevokeApiTokenRequest(name=name))
    out.write(f"{revoked.name}: revoked\n")
    return OK
