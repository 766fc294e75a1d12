"""Where webhooks may POST: the URL rules and the egress policy against SSRF.

A destination URL is `http` or `https` with a host, no user info (a credential belongs in
the secret, not in a URL), no fragment, at most 2048 characters.

The egress policy: the job service runs inside the network it serves, so a webhook must not
become a way for a caller to reach what only pgsage can (a cloud metadata service at
169.254.169.254, the job store, admin ports on loopback or the pod network). Every address a
destination's host resolves to must be global (public), or lie in one of the networks of
`PGSAGE_JOBS_WEBHOOK_ALLOWED_NETWORKS` (CIDRs, e.g. an internal chat server's subnet); in
local mode (no authentication: the caller is the machine's own user, who can reach all that
anyway) every address is allowed. It is checked when a destination is created or changed
(an IP literal, or a name that resolves then) and again before every POST: the sender
resolves the name, checks every address, and connects to the address it checked (the Host
header and the TLS server name stay the URL's), so a DNS answer that changes between the
check and the connection cannot slip through. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from job_service import errors

MAX_URL_LENGTH = 2048
RESOLVE_SECONDS = 2.0

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """The destination may not be reached; the message says why (no URL, no secret)."""


@dataclass(frozen=True)
class Destination:
    """A checked URL, split into what the sender needs."""

    url: str
    scheme: str
    host: str  # without brackets
    port: int

    @property
    def origin(self) -> str:
        """`scheme://host[:port]/…`: what roles other than admin see of the URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = {"http": 80, "https": 443}[self.scheme]
        port = "" if self.port == default else f":{self.port}"
        return f"{self.scheme}://{host}{port}/…"


def parse(url: str, field: str = "webhook.url") -> Destination:
    """The destination `url` names; INVALID_ARGUMENT naming `field` when it breaks a rule."""
    text = url.strip()
    if not text:
        raise errors.MissingField(field)
    if len(text) > MAX_URL_LENGTH or not text.isprintable() or any(c.isspace() for c in text):
        raise errors.InvalidField(
            field, f"{field} is a URL of up to {MAX_URL_LENGTH} printable characters, no spaces"
        )
    try:
        parts: SplitResult = urlsplit(text)
        port = parts.port
    except ValueError:
        raise errors.InvalidField(field, f"{field} is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise errors.InvalidField(field, f"{field} must be an http or https URL")
    if not parts.hostname:
        raise errors.InvalidField(field, f"{field} has no host")
    if parts.username is not None or parts.password is not None:
        raise errors.InvalidField(
            field, f"{field} must not hold user info; sign with the webhook's secret instead"
        )
    if parts.fragment or text.endswith("#"):
        raise errors.InvalidField(field, f"{field} must not have a fragment (#...)")
    default = 443 if parts.scheme == "https" else 80
    return Destination(text, parts.scheme, parts.hostname, port or default)


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Policy:
    """Which addresses webhooks may reach (see the module docstring)."""

    allowed_networks: tuple[Network, ...] = ()
    allow_all: bool = False

    @classmethod
    def build(cls, networks: Iterable[str], *, allow_all: bool) -> Policy:
        """From settings: CIDR strings (a bad one raises ValueError naming it)."""
        parsed = []
        for cidr in networks:
            try:
                parsed.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError:
                raise ValueError(f"not a network (CIDR): {cidr!r}") from None
        return cls(tuple(parsed), allow_all)

    def refusal(self, address: Address) -> str | None:
        """Why `address` may not be reached, or None when it may."""
        if self.allow_all:
            return None
        address = _unmapped(address)
        if any(address in n for n in self.allowed_networks if n.version == address.version):
            return None
        if address.is_global and not address.is_multicast:
            return None
        kind = (
            "loopback"
            if address.is_loopback
            else "link-local"
            if address.is_link_local
            else "private"
            if address.is_private
            else "non-public"
        )
        return (
            f"it resolves to {address}, a {kind} address; webhooks reach public addresses only "
            "unless PGSAGE_JOBS_WEBHOOK_ALLOWED_NETWORKS allows its network"
        )

    def check(self, addresses: Iterable[Address]) -> list[Address]:
        """`addresses`, all allowed; Refused naming the first that is not."""
        checked = list(addresses)
        if not checked:
            raise Refused("its host resolves to no address")
        for address in checked:
            why = self.refusal(address)
            if why is not None:
                raise Refused(why)
        return checked


def literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[Address]:
    """Every address `host` resolves to (an IP literal is itself); Refused when it does not."""
    found = literal(host)
    if found is not None:
        return [found]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise Refused(f"resolving its host took longer than {RESOLVE_SECONDS:g} s") from None
    except OSError:
        raise Refused("its host name does not resolve") from None
    return list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    )


async def check_on_save(destination: Destination, policy: Policy, field: str) -> None:
    """At create or update: an address the policy refuses is INVALID_ARGUMENT now. A name
    that does not resolve yet is accepted (it is checked again before every POST)."""
    if policy.allow_all:
        return
    try:
        addresses = await resolve(destination.host, destination.port)
    except Refused:
        return
    try:
        policy.check(addresses)
    except Refused as exc:
        raise errors.InvalidField(field, f"{field} is not allowed: {exc}") from None
