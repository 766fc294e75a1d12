"""Local mode and bind rules of every service's settings, and the optimizer's allow-list.

No files are read here (no TLS file is set): what is checked is which configurations a
service accepts before it binds anything, and how the optimizer judges a caller's
certificate identities (a fake servicer context that implements the real interface).
"""

from __future__ import annotations

import contextvars
import re

import pytest

from gateway.settings import GatewaySettings
from job_service.settings import Settings as JobSettings
from optimizer_service import errors, peers, trail
from optimizer_service.settings import Settings as OptimizerSettings
from pgsage import tls


def test_every_service_binds_loopback_by_default(monkeypatch):
    for name in ("PGSAGE_JOBS_GRPC_HOST", "PGSAGE_OPTIMIZER_GRPC_HOST", "PGSAGE_GATEWAY_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert tls.is_loopback(JobSettings().grpc_host)
    assert tls.is_loopback(OptimizerSettings().grpc_host)
    assert tls.is_loopback(GatewaySettings().host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host):
    assert tls.is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "jobs.example.com"])
def test_hosts_beyond_this_machine(host):
    assert not tls.is_loopback(host)


def test_the_job_service_binds_beyond_loopback_only_with_an_issuer():
    with pytest.raises(tls.SettingsError, match="PGSAGE_JOBS_OIDC_ISSUER"):
        JobSettings(grpc_host="0.0.0.0")
    assert JobSettings(grpc_host="0.0.0.0", oidc_issuer="https://id.example.com").grpc_host


def test_the_gateway_binds_beyond_loopback_only_with_sign_in():
    with pytest.raises(tls.SettingsError, match="PGSAGE_GATEWAY_OIDC_ISSUER"):
        GatewaySettings(host="0.0.0.0")
    signed_in = GatewaySettings(
        host="0.0.0.0",
        oidc_issuer="https://id.example.com",
        oidc_client_id="pgsage",
        public_url="https://pgsage.example.com",
        session_secret="s" * 32,
    )
    assert signed_in.host == "0.0.0.0"


def test_the_optimizer_needs_mutual_tls_beyond_loopback_and_for_an_allow_list():
    with pytest.raises(tls.SettingsError, match=re.escape("PGSAGE_OPTIMIZER_GRPC_HOST=10.1.2.3")):
        OptimizerSettings(grpc_host="10.1.2.3")
    with pytest.raises(tls.SettingsError, match="ALLOWED_CLIENTS needs mutual TLS"):
        OptimizerSettings(allowed_clients=["jobs"])


def test_half_a_key_pair_names_the_missing_setting():
    with pytest.raises(tls.SettingsError, match="PGSAGE_JOBS_OPTIMIZER_TLS_CERT_FILE is required"):
        JobSettings(optimizer_tls_key_file="/nonexistent/key.pem")
    with pytest.raises(tls.SettingsError, match="PGSAGE_OPTIMIZER_TLS_CLIENT_CA_FILE needs"):
        OptimizerSettings(tls_client_ca_file="/nonexistent/ca.pem")


def test_allowed_clients_as_a_list_or_comma_separated():
    parse = OptimizerSettings._clients_from_text
    assert parse("a.example, spiffe://x/jobs") == ["a.example", "spiffe://x/jobs"]
    assert parse('["a.example"]') == ["a.example"]


class FakeContext:
    """The parts of grpc.aio.ServicerContext the allow-list reads."""

    def __init__(self, auth: dict[str, list[bytes]], metadata=()) -> None:
        self._auth = auth
        self._metadata = metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth

    def peer(self) -> str:
        return "ipv4:10.0.0.9:40000"

    def invocation_metadata(self):
        return self._metadata


ALLOWED = frozenset({"jobs.pgsage.internal", "spiffe://pgsage/jobs"})


def test_a_certificate_names_an_allowed_identity_by_dns_uri_or_cn():
    for auth in (
        {"peer_dns": [b"other.example", b"jobs.pgsage.internal"]},
        {"peer_uri": [b"spiffe://pgsage/jobs"]},
        {"x509_common_name": [b"jobs.pgsage.internal"]},
    ):
        peers.check("Apply", FakeContext({"transport_security_type": [b"ssl"], **auth}), ALLOWED)


def test_an_identity_outside_the_allow_list_is_permission_denied():
    context = FakeContext({"peer_dns": [b"intruder.example"], "x509_common_name": [b"jobs"]})
    with pytest.raises(errors.ClientNotAllowed) as denied:
        peers.check("Rollback", context, ALLOWED)
    assert denied.value.reason == "CLIENT_NOT_ALLOWED"
    assert "intruder.example" in denied.value.message
    # Only DNS and URI SANs and the CN are identities: not the raw SAN list (IPs, e-mails).
    context = FakeContext({"x509_subject_alternative_name": [b"jobs.pgsage.internal"]})
    with pytest.raises(errors.ClientCertificateRequired):
        peers.check("Apply", context, ALLOWED)


def test_no_certificate_is_unauthenticated():
    with pytest.raises(errors.ClientCertificateRequired) as refused:
        peers.check("Analyze", FakeContext({}), ALLOWED)
    assert refused.value.code.name == "UNAUTHENTICATED"


def test_the_job_id_sent_is_recorded_and_a_forged_one_is_not():
    # In a context of its own, as each RPC has: what `enter` binds (the log's job field
    # too) must not stay in the test process's context for the tests after this one.
    contextvars.copy_context().run(_the_job_id_sent_is_recorded_and_a_forged_one_is_not)


def _the_job_id_sent_is_recorded_and_a_forged_one_is_not() -> None:
    trail.enter("Apply", (("x-pgsage-job", "0c9e6f1a-6d1b-4f7e-9a51-3f0c2b8e9d10"),))
    assert trail.current.get() == trail.Call("Apply", "0c9e6f1a-6d1b-4f7e-9a51-3f0c2b8e9d10")
    trail.enter("Apply", (("x-pgsage-job", "x\nstatement job=forged"),))
    assert trail.current.get() == trail.Call("Apply", "invalid")
    trail.enter("ListTargets", ())
    assert trail.current.get() == trail.Call("ListTargets", "-")


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE"),
        ("  -- why\n/* note */ drop index i", "DROP"),
        ("EXPLAIN (FORMAT JSON) SELECT 1", "EXPLAIN"),
        ("", "UNKNOWN"),
    ],
)
def test_statement_kinds(sql, kind):
    assert trail.kind_of(sql) == kind
