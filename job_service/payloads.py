"""What a webhook POST carries: the body in the destination's format, and its signature.

GENERIC: `{"id", "type", "time", "target", "resource", "text", "url", "data"}`, where `data`
is the event's facts (a job's error decoded into `{"code", "reason", "message"}`). SLACK:
`{"text": ...}`, the line a person reads, as Slack-compatible incoming webhooks take it.

The signature (`X-Pgsage-Signature: t=<unix seconds>,v1=<hex>`) is HMAC-SHA256 with the
destination's secret over `<t>.<body>`: a receiver recomputes it over the raw body, compares
in constant time, and refuses a `t` too far from its clock (a replay).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from google.rpc import code_pb2, status_pb2

from job_service.vocabulary import WebhookEventType, WebhookFormat
from pgsage import errors as pgsage_errors

SIGNATURE_HEADER = "X-Pgsage-Signature"
MAX_TEXT = 2000
MAX_TITLES = 5


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Pgsage-Signature` value of `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _error(encoded: str | None) -> dict[str, str] | None:
    """A job's stored `google.rpc.Status` (base64) as code, reason and message."""
    if not encoded:
        return None
    try:
        status = status_pb2.Status.FromString(base64.b64decode(encoded))
    except (binascii.Error, ValueError):
        return None
    reason, _ = pgsage_errors.from_status(status)
    code = code_pb2.Code.Name(status.code) if status.code in code_pb2.Code.values() else ""
    return {"code": code, "reason": reason, "message": status.message}


def facts(payload: dict[str, Any]) -> dict[str, Any]:
    """The event's stored facts as a receiver gets them (a job's error decoded)."""
    data = dict(payload)
    if "error" in data:
        error = _error(data.pop("error"))
        if error is not None:
            data["error"] = error
    data.pop("text", None)
    return data


def job_url(public_url: str | None, job_name: str) -> str:
    """The UI's page of `jobs/{job}`, when the job service knows the UI's address."""
    if not public_url or not job_name.startswith("jobs/"):
        return ""
    return f"{public_url.rstrip('/')}/{job_name.split('/suggestions/')[0]}"


def text(event_type: str, target: str, data: dict[str, Any], given: str = "") -> str:
    """One line a person reads about the event."""
    job = data.get("job") or {}
    if event_type == WebhookEventType.JOB_FAILED:
        kind = str(job.get("kind", "")).lower() or "a"
        why = (data.get("error") or {}).get("message") or "no reason was recorded"
        line = f"pgsage: {kind} job on {target} failed: {why}"
    elif event_type == WebhookEventType.ANALYSIS_FINISHED_WITH_NEW_SUGGESTIONS:
        count = int(data.get("new_suggestions", 0))
        titles = [s.get("title", "") for s in data.get("suggestions", [])[:MAX_TITLES]]
        more = "; …" if count > len(titles) else ""
        noun = "suggestion" if count == 1 else "suggestions"
        line = f"pgsage: the analysis of {target} found {count} new {noun}: " + "; ".join(
            t for t in titles if t
        )
        line += more
    elif given:
        line = given
    else:
        line = f"pgsage: {event_type.lower().replace('_', ' ')} on {target or 'pgsage'}"
    return line[:MAX_TEXT]


def _slack_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def body(
    *,
    format: str,
    event_id: str,
    event_type: str,
    event_time: str,
    target: str,
    resource: str,
    payload: dict[str, Any],
    public_url: str | None,
) -> bytes:
    """The POST body of one event for one destination."""
    data = facts(payload)
    line = text(event_type, target, data, str(payload.get("text", "")))
    url = job_url(public_url, resource)
    if format == WebhookFormat.SLACK:
        shown = _slack_escape(line) + (f" <{url}|{_slack_escape(resource)}>" if url else "")
        return json.dumps({"text": shown}).encode()
    document = {
        "id": event_id,
        "type": event_type,
        "time": event_time,
        "target": target,
        "resource": resource,
        "text": line,
        "url": url,
        "data": data,
    }
    return json.dumps(document, default=str).encode()
