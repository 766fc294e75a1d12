"""A test OpenID Connect issuer: real keys, discovery and JWKS served over real HTTP.

`Issuer()` makes an RSA and an EC signing key (`cryptography`), serves
`/.well-known/openid-configuration` and `/jwks` on 127.0.0.1 port 0 from a thread, counts
JWKS fetches, and mints tokens (`issuer.token(sub=..., groups=[...])`). Used by the job
service's tests and by bench/auth.py:

    from tests.support.issuer import Issuer

    with Issuer() as issuer:
        settings = settings_for(url, oidc_issuer=issuer.url, oidc_audience=issuer.audience)
        metadata = issuer.bearer(sub="alice", groups=["dba"])
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "pgsage-test"


class Issuer:
    """A running issuer; use as a context manager (or call `close()`)."""

    def __init__(self, audience: str = AUDIENCE) -> None:
        self.audience = audience
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec_key = ec.generate_private_key(ec.SECP256R1())
        self.jwks_fetches = 0
        self._lock = threading.Lock()
        self.rotated: list[dict[str, Any]] = []  # extra JWKs served (key rotation)
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    with issuer._lock:
                        issuer.jwks_fetches += 1
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> Issuer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec_key.public_key()))
        rsa_jwk.update(kid="rsa-1", alg="RS256", use="sig")
        ec_jwk.update(kid="ec-1", alg="ES256", use="sig")
        return {"keys": [rsa_jwk, ec_jwk, *self.rotated]}

    def claims(self, sub: str = "alice", **overrides: Any) -> dict[str, Any]:
        """Valid claims for `sub` (expiring in 5 minutes); `overrides` replace or add."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "name": sub.title(),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self, sub: str = "alice", *, alg: str = "RS256", kid: str | None = None, **claims: Any
    ) -> str:
        """A token signed with the issuer's RSA (RS256) or EC (ES256) key."""
        key = self.rsa_key if alg.startswith(("RS", "PS")) else self.ec_key
        kid = kid or ("rsa-1" if key is self.rsa_key else "ec-1")
        return jwt.encode(self.claims(sub, **claims), key, algorithm=alg, headers={"kid": kid})

    def bearer(self, sub: str = "alice", **claims: Any) -> tuple[tuple[str, str], ...]:
        """gRPC metadata carrying a valid token for `sub`."""
        return (("authorization", f"Bearer {self.token(sub, **claims)}"),)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying `token`."""
    return (("authorization", f"Bearer {token}"),)
