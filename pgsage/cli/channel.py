"""The CLI's channel to the job service: plaintext on loopback, TLS when asked.

TLS is asked for with `--tls` (the system's trusted roots) or `--ca-file` / `PGSAGE_CA_FILE`
(a CA bundle to trust instead). A bearer token is never sent in plaintext beyond this machine:
the CLI refuses before connecting, saying how to turn TLS on.
"""

from __future__ import annotations

import ipaddress

import grpc

from pgsage.cli.errors import USAGE, CliError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def host_of(address: str) -> str:
    """The host part of `host:port`, `[v6]:port` or a bare host."""
    address = address.strip()
    if address.startswith("["):
        return address[1 : address.find("]")] if "]" in address else address[1:]
    if address.count(":") == 1:
        return address.rsplit(":", 1)[0]
    return address


def is_loopback(host: str) -> bool:
    name = host.strip().lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def open_channel(address: str, *, tls: bool, ca_file: str | None, token: str) -> grpc.Channel:
    """A channel to `address`; refuses to carry `token` in plaintext off this machine."""
    if ca_file:
        try:
            with open(ca_file, "rb") as handle:
                roots = handle.read()
        except OSError as exc:
            raise CliError(f"--ca-file: cannot read {ca_file}: {exc.strerror}", USAGE) from None
        if b"-----BEGIN CERTIFICATE-----" not in roots:
            raise CliError(f"--ca-file: {ca_file} holds no PEM certificate", USAGE)
        return grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=roots))
    if tls:
        return grpc.secure_channel(address, grpc.ssl_channel_credentials())
    if token and not is_loopback(host_of(address)):
        raise CliError(
            f"refusing to send your token in plaintext to {address}: use --tls (or --ca-file "
            "/ PGSAGE_CA_FILE) to reach a job service beyond this machine",
            USAGE,
        )
    return grpc.insecure_channel(address)
