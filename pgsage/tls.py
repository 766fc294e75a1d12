"""TLS for pgsage's gRPC links: PEM files read once, turned into grpc credentials.

Every service configures TLS the same way, with file paths in its settings. `ServerTls` and
`ClientTls` hold what was read; loading them checks, at start-up, that a configuration is
whole (a certificate needs its key), that each file can be read, and that it holds what it
should (PEM certificates, a PEM private key). Any problem is a `SettingsError` whose message
is one line naming the environment variable to fix, never a file's contents.

Local mode (no TLS configured) is `None` everywhere: plaintext, and loopback only (see
`is_loopback`, which the settings classes use to refuse a wider bind without authentication).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class SettingsError(Exception):
    """A configuration a service cannot start with; the message is one line naming the
    setting. Deliberately not a ValueError: pydantic lets it through unwrapped, so the entry
    points print it as is (no pydantic dump that could echo other settings' values)."""


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps a server reachable from this machine only."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None


def read_certificates(path: Path, setting: str) -> bytes:
    """The PEM certificate(s) in `path` (a chain or a CA bundle)."""
    data = _read(path, setting)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise SettingsError(f"{setting}: {path} holds no PEM certificate")
    return data


def read_private_key(path: Path, setting: str) -> bytes:
    """The PEM private key in `path`."""
    data = _read(path, setting)
    if b"PRIVATE KEY-----" not in data:
        raise SettingsError(f"{setting}: {path} holds no PEM private key")
    return data


def _pair(
    cert: Path | None, key: Path | None, cert_setting: str, key_setting: str
) -> tuple[bytes, bytes] | None:
    if cert is None and key is None:
        return None
    if cert is None:
        raise SettingsError(f"{cert_setting} is required when {key_setting} is set")
    if key is None:
        raise SettingsError(f"{key_setting} is required when {cert_setting} is set")
    return read_certificates(cert, cert_setting), read_private_key(key, key_setting)


@dataclass(frozen=True)
class ServerTls:
    """A server's certificate chain and key, and the CA its clients' certificates must chain
    to (`client_ca`: then a client without such a certificate fails the handshake)."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


@dataclass(frozen=True)
class ClientTls:
    """What a client trusts (`ca`; None: the system's roots), the certificate it presents
    for mutual TLS, and the name it expects on the server's certificate."""

    ca: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    server_name: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )

    def options(self) -> list[tuple[str, str]]:
        """Channel options: the expected server name, when it differs from the address."""
        if not self.server_name:
            return []
        return [("grpc.ssl_target_name_override", self.server_name)]


Setting = tuple[str, Path | None]
"""A file setting: its environment variable's name (for messages) and its value."""


def load_server(*, cert: Setting, key: Setting, client_ca: Setting) -> ServerTls | None:
    """A server's TLS, or None when none of its files is set (plaintext)."""
    pair = _pair(cert[1], key[1], cert[0], key[0])
    if pair is None:
        if client_ca[1] is not None:
            raise SettingsError(f"{client_ca[0]} needs {cert[0]} and {key[0]} (TLS) as well")
        return None
    ca = read_certificates(client_ca[1], client_ca[0]) if client_ca[1] is not None else None
    return ServerTls(certificate_chain=pair[0], private_key=pair[1], client_ca=ca)


def load_client(
    *, ca: Setting, cert: Setting, key: Setting, server_name: str | None = None
) -> ClientTls | None:
    """A client's TLS, or None when none of its files is set (plaintext). A client
    certificate without a CA trusts the system's roots for the server."""
    pair = _pair(cert[1], key[1], cert[0], key[0])
    if ca[1] is None and pair is None:
        return None
    return ClientTls(
        ca=read_certificates(ca[1], ca[0]) if ca[1] is not None else None,
        certificate_chain=pair[0] if pair else None,
        private_key=pair[1] if pair else None,
        server_name=server_name or None,
    )


def setting(settings: object, field: str) -> Setting:
    """`(ENV_NAME, value)` of a file setting of a pydantic-settings object."""
    config = getattr(settings, "model_config", {})
    return f"{config.get('env_prefix', '')}{field.upper()}", getattr(settings, field)
