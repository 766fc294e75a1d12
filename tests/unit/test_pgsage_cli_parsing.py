"""The CLI's small parsers: addresses, loopback, roles, lifetimes, tokens."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from pgsage.cli import access, channel, credentials
from pgsage.cli.errors import CliError
from pgsage.jobs.v1 import access_pb2


@pytest.mark.parametrize(
    ("address", "host", "loopback"),
    [
        ("localhost:50051", "localhost", True),
        ("127.0.0.1:50051", "127.0.0.1", True),
        ("127.8.9.1:1", "127.8.9.1", True),
        ("[::1]:50051", "::1", True),
        ("::1", "::1", True),
        ("jobs.example.com:443", "jobs.example.com", False),
        ("10.0.0.5:50051", "10.0.0.5", False),
        ("[2001:db8::1]:50051", "2001:db8::1", False),
        ("localhost.evil.example:1", "localhost.evil.example", False),
    ],
)
def test_hosts_and_loopback(address: str, host: str, loopback: bool):
    assert channel.host_of(address) == host
    assert channel.is_loopback(host) is loopback


def test_roles_parse_with_an_optional_target_pattern():
    assert access.parse_role("operator:staging-*") == access_pb2.RoleBinding(
        role=access_pb2.OPERATOR, targets="staging-*"
    )
    assert access.parse_role("VIEWER").targets == "*"
    with pytest.raises(argparse.ArgumentTypeError, match="unknown role 'root'"):
        access.parse_role("root")


def test_lifetimes():
    assert access.parse_expiry("30d") == timedelta(days=30)
    assert access.parse_expiry("12h") == timedelta(hours=12)
    assert access.parse_expiry("8w") == timedelta(weeks=8)
    for bad in ("0d", "30", "1y", "-1d", "d"):
        with pytest.raises(argparse.ArgumentTypeError):
            access.parse_expiry(bad)


def test_a_token_is_checked_without_being_echoed():
    assert credentials.check("  pgs_abc\n", "x") == "pgs_abc"
    for bad in ("", "   ", "pgs_a b", "pgs_\x1b[2J", "pgs_é", "p" * 9000):
        with pytest.raises(CliError) as caught:
            credentials.check(bad, "PGSAGE_TOKEN")
        assert bad.strip() == "" or bad.strip() not in caught.value.message


def test_the_token_path_follows_xdg_config_home(tmp_path):
    assert credentials.token_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "pgsage" / "token"
    )
    # A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    assert credentials.token_path({"XDG_CONFIG_HOME": "rel"}).parts[-3:] == (
        ".config",
        "pgsage",
        "token",
    )
