"""The CLI keeps a token to itself: never in plaintext beyond this machine, never from a file
others can read, never echoed; TLS to the job service when asked."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from pgsage.embedded import free_port
from tests.support import stack as pgsage_stack
from tests.support.cli import run_pgsage

SECRET = "pgs_" + "s3cr3t" * 7


async def test_a_token_is_not_sent_in_plaintext_beyond_this_machine():
    result = await run_pgsage(
        "jobs", "list", address="192.0.2.10:50051", env={"PGSAGE_TOKEN": SECRET}
    )
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("pgsage: refusing to send your token in plaintext to 192.0.2.10")
    assert SECRET not in result.err


async def test_a_token_file_others_can_read_is_refused(tmp_path: Path):
    folder = tmp_path / "pgsage"
    folder.mkdir(mode=0o700)
    token = folder / "token"
    token.write_text(SECRET + "\n")
    token.chmod(0o640)
    address = f"127.0.0.1:{free_port()}"
    result = await run_pgsage(
        "jobs", "list", address=address, env={"XDG_CONFIG_HOME": str(tmp_path)}
    )
    assert result.code == 1
    assert result.err == (
        f"pgsage: {token} can be read by other users (mode 0640): run `chmod 600 {token}`, "
        "or `pgsage login` again\n"
    )


async def test_a_malformed_token_is_refused_without_echoing_it():
    address = f"127.0.0.1:{free_port()}"
    bad = "pgs_has a space\x1b[31m"
    result = await run_pgsage("jobs", "list", address=address, env={"PGSAGE_TOKEN": bad})
    assert result.code == 2 and "PGSAGE_TOKEN is not a token" in result.err
    assert "has a space" not in result.err


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_tls_to_the_job_service_with_a_ca_file(tmp_path: Path, ca: trustme.CA, store):
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, bundle = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    async with pgsage_stack.job_service(store, tls_cert_file=cert, tls_key_file=key) as secure:
        trusted = await run_pgsage("--ca-file", str(bundle), "jobs", "list", address=secure.address)
        assert trusted.code == 0, trusted.err
        by_env = await run_pgsage(
            "jobs", "list", address=secure.address, env={"PGSAGE_CA_FILE": str(bundle)}
        )
        assert by_env.code == 0, by_env.err
        other_ca = tmp_path / "other.pem"
        trustme.CA().cert_pem.write_to_path(str(other_ca))
        untrusted = await run_pgsage(
            "--ca-file", str(other_ca), "jobs", "list", address=secure.address
        )
        assert untrusted.code == 3 and len(untrusted.err.strip().splitlines()) == 1
        assert untrusted.err.startswith(
            f"pgsage: cannot reach the job service at {secure.address} over TLS"
        )
