"""Webhook rules without I/O: which URLs and addresses are allowed, the signature a receiver
checks, the bodies of each format, and the retry delays."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
from datetime import timedelta

import pytest

from job_service import destinations, ending, payloads, sender
from pgsage import errors


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://hooks.slack.com/services/T0/B0/xyz", "https://hooks.slack.com/…"),
        ("http://chat.example.com:8065/hooks/abc", "http://chat.example.com:8065/…"),
        ("https://[2001:db8::1]:8443/x?y=1", "https://[2001:db8::1]:8443/…"),
    ],
)
def test_good_urls_and_what_non_admins_see_of_them(url, origin):
    assert destinations.parse(url).origin == origin


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "javascript:alert(1)", "https://a@b.example/", "http://x/ y", "//x/y"],
)
def test_bad_urls_name_the_field(url):
    with pytest.raises(errors.InvalidArgument) as caught:
        destinations.parse(url)
    assert caught.value.metadata["field"] == "webhook.url"


def test_the_egress_policy():
    strict = destinations.Policy.build(["10.20.0.0/16"], allow_all=False)
    allowed = ["93.184.216.34", "10.20.3.4", "2606:4700::1111"]
    refused = ["127.0.0.1", "10.21.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00::1",
               "100.64.0.1", "0.0.0.0", "224.0.0.251"]  # fmt: skip
    for address in allowed:
        assert strict.refusal(ipaddress.ip_address(address)) is None, address
    for address in refused:
        assert strict.refusal(ipaddress.ip_address(address)) is not None, address
    with pytest.raises(destinations.Refused, match=r"169\.254\.169\.254, a link-local address"):
        strict.check(
            [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("169.254.169.254")]
        )
    local = destinations.Policy.build([], allow_all=True)
    assert local.refusal(ipaddress.ip_address("127.0.0.1")) is None
    with pytest.raises(ValueError, match="not-a-network"):
        destinations.Policy.build(["not-a-network"], allow_all=False)


def test_the_signature_is_hmac_sha256_over_the_timestamp_and_body():
    body = b'{"type":"JOB_FAILED"}'
    header = payloads.signature("s3cret-s3cret-s3cret", 1700000000, body)
    expected = hmac.new(b"s3cret-s3cret-s3cret", b"1700000000." + body, hashlib.sha256)
    assert header == f"t=1700000000,v1={expected.hexdigest()}"


def test_a_failed_jobs_body_in_each_format():
    error = ending.make_status(9, "CHANGE_NOT_DONE", "the <index> & more")
    facts = {"job": {"kind": "APPLY", "name": "jobs/j"}, "error": base64.b64encode(error).decode()}
    common = dict(event_id="e", event_type="JOB_FAILED", event_time="t", target="prod",
                  resource="jobs/j", payload=facts, public_url="https://ui.example/")  # fmt: skip
    generic = json.loads(payloads.body(format="GENERIC", **common))
    assert generic["data"]["error"] == {
        "code": "FAILED_PRECONDITION",
        "reason": "CHANGE_NOT_DONE",
        "message": "the <index> & more",
    }
    assert generic["url"] == "https://ui.example/jobs/j"
    assert generic["text"] == "pgsage: apply job on prod failed: the <index> & more"
    slack = json.loads(payloads.body(format="SLACK", **common))
    assert slack == {
        "text": "pgsage: apply job on prod failed: the &lt;index&gt; &amp; more "
        "<https://ui.example/jobs/j|jobs/j>"
    }


def test_retry_delays_grow_exponentially_with_jitter_up_to_the_cap():
    s = sender.Sender(
        None,  # type: ignore[arg-type]
        owner="o",
        policy=destinations.Policy(),
        timeout=timedelta(seconds=5),
        max_attempts=8,
        backoff=timedelta(seconds=10),
        max_backoff=timedelta(seconds=300),
        retention=timedelta(days=1),
    )
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (5, 160), (6, 300), (20, 300)]:
        delays = [s.retry_delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert s.retry_delay(1, retry_after=120) == 120
    assert s.retry_delay(1, retry_after=10_000) == 300
