"""Who may call the optimizer: the client certificate's identity against an allow-list.

With mutual TLS the handshake already refuses clients without a certificate from the
configured client CA; `Guarded` then checks, before any OptimizerService handler runs, that
one of the certificate's identities (its DNS and URI subject alternative names, and its
common name) is in `allowed_clients`. Health and reflection are separate services and stay
open to any client that completes the handshake. Every call also records its RPC and job id
for the statement log (`trail.enter`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from optimizer_service import errors, trail
from pgsage import logs

log = logging.getLogger(__name__)

# The auth-context properties grpc fills from a verified client certificate.
IDENTITY_PROPERTIES = ("peer_dns", "peer_uri", "x509_common_name")


def identities(context: grpc.aio.ServicerContext) -> list[str]:
    """The identities of the verified client certificate of this call (none: plaintext or
    no certificate)."""
    auth = context.auth_context() or {}
    found: list[str] = []
    for key in IDENTITY_PROPERTIES:
        for value in auth.get(key, ()):
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            if text not in found:
                found.append(text)
    return found


def check(rpc: str, context: grpc.aio.ServicerContext, allowed: frozenset[str]) -> None:
    """Raises unless the caller's certificate names an allowed identity."""
    names = identities(context)
    if not names:
        log.warning("refused %s from %s: no client certificate", rpc, context.peer())
        raise errors.ClientCertificateRequired(rpc)
    if not allowed.intersection(names):
        log.warning("refused %s from %s: identities %s not allowed", rpc, context.peer(), names)
        raise errors.ClientNotAllowed(rpc, names)


class Guarded:
    """Wraps a servicer: each RPC first checks the caller (when `allowed` is set, that is
    with mutual TLS) and records the call for the statement log."""

    def __init__(self, servicer: object, allowed: frozenset[str] | None) -> None:
        self._servicer = servicer
        self._allowed = allowed

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._servicer, name)
        if not name[:1].isupper() or not callable(attr):
            return attr
        return _guard(name, attr, self._allowed)


def _enter(
    rpc: str, request: Any, context: grpc.aio.ServicerContext, allowed: frozenset[str] | None
) -> None:
    if allowed is not None:
        check(rpc, context, allowed)
    trail.enter(rpc, context.invocation_metadata())
    logs.bind(target=getattr(request, "target", None))  # the log lines name it


def _guard(
    rpc: str, behavior: Callable[..., Any], allowed: frozenset[str] | None
) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            _enter(rpc, request, context, allowed)
            async for response in behavior(request, context):
                yield response

        return stream

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        _enter(rpc, request, context, allowed)
        return await behavior(request, context)

    return unary
