"""The gateway's settings (environment prefix `PGSAGE_GATEWAY_`), validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pgsage import tls

UI_DIST = Path(__file__).resolve().parent / "ui" / "dist"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def host_name(host: str) -> str:
    """The name in a Host header value, without port or IPv6 brackets."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class GatewaySettings(BaseSettings):
    """Where the gateway listens, where the job service is, how long a call may take, how
    people sign in (OpenID Connect; none configured is local mode) and the browser defences."""

    model_config = SettingsConfigDict(env_prefix="PGSAGE_GATEWAY_", extra="forbid")

    host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    job_service_address: str = "localhost:50051"
    # Deadline of every unary call to the job service, in seconds.
    call_timeout: float = Field(default=10.0, gt=0)
    # Deadline of one WatchJob stream behind an SSE connection; the browser reconnects after.
    watch_timeout: float = Field(default=600.0, gt=0)
    # Seconds between SSE keep-alive comments on a quiet job.
    sse_keepalive: float = Field(default=15.0, gt=0)
    # What `GET /v1/jobs/{job}/result` puts in Retry-After while a job runs, in seconds.
    result_retry_after: int = Field(default=2, ge=1)
    ui_dir: Path = UI_DIST
    log_level: str = "INFO"

    # OpenID Connect (authorization code + PKCE). No issuer: local mode, nobody signs in.
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    # Empty for a public client (PKCE only); otherwise sent with HTTP Basic to the token endpoint.
    oidc_client_secret: SecretStr = SecretStr("")
    # Space-separated. Add `offline_access` where the issuer gives refresh tokens only for it
    # (Okta, Entra ID, Dex); without a refresh token a sign-in ends with its ID token.
    oidc_scopes: str = "openid profile email groups"
    # Seconds the issuer may take to answer discovery, JWKS and token requests.
    oidc_timeout: float = Field(default=10.0, gt=0)
    # The external base URL people use (https://pgsage.example.com): the redirect URI is
    # `{public_url}/auth/callback` and `Origin` must be its origin. Required with an issuer.
    public_url: str = ""
    # Seals the session cookie (AES-GCM, key derived with HKDF); the same on every replica.
    session_secret: SecretStr = SecretStr("")
    # Seconds a sign-in lasts at most, refreshes included.
    session_max_age: int = Field(default=8 * 3600, ge=60)
    # `Host` header names accepted (DNS rebinding), comma-separated. Empty: the host of
    # public_url, and the loopback names in local mode.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Request bodies larger than this are cut off with 413 while they stream in.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Token bucket per client (session subject, else client IP): refill rate and burst.
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # Concurrent change streams (SSE /v1/jobs/{job}/events) per client.
    max_streams_per_client: int = Field(default=16, ge=1)

    @field_validator("ui_dir")
    @classmethod
    def _resolve(cls, value: Path) -> Path:
        return value.resolve()

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("oidc_issuer", "public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _oidc_complete(self) -> GatewaySettings:
        if self.public_url:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("PGSAGE_GATEWAY_PUBLIC_URL must be an http(s) URL")
        if not self.oidc_issuer:
            return self
        missing = [
            name
            for name, value in (
                ("PGSAGE_GATEWAY_OIDC_CLIENT_ID", self.oidc_client_id),
                ("PGSAGE_GATEWAY_PUBLIC_URL", self.public_url),
                ("PGSAGE_GATEWAY_SESSION_SECRET", self.session_secret.get_secret_value()),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"with PGSAGE_GATEWAY_OIDC_ISSUER set, also set {', '.join(missing)}")
        if len(self.session_secret.get_secret_value()) < 32:
            raise ValueError("PGSAGE_GATEWAY_SESSION_SECRET must be at least 32 characters")
        if "openid" not in self.oidc_scopes.split():
            raise ValueError("PGSAGE_GATEWAY_OIDC_SCOPES must include openid")
        return self

    @property
    def local_mode(self) -> bool:
        """No identity provider: the job service treats every caller as the local user."""
        return not self.oidc_issuer

    @property
    def public_origin(self) -> str:
        """scheme://host[:port] of public_url ('' when unset)."""
        if not self.public_url:
            return ""
        parts = urlsplit(self.public_url.lower())
        netloc = parts.netloc.rsplit("@", 1)[-1]
        default = {"http": ":80", "https": ":443"}[parts.scheme]
        # Browsers leave the scheme's default port out of Origin.
        return f"{parts.scheme}://{netloc.removesuffix(default)}"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    def host_allow_list(self) -> frozenset[str]:
        """Lower-case host names (no port) a request's `Host` may name."""
        if self.allowed_hosts:
            return frozenset(host_name(h.strip().lower()) for h in self.allowed_hosts)
        hosts: set[str] = set()
        if self.public_url:
            hosts.add((urlsplit(self.public_url).hostname or "").lower())
        if self.local_mode or not self.public_url:
            hosts.update(LOCAL_HOSTS)
        return frozenset(hosts)

    # TLS to the job service: the CA its certificate chains to, a client certificate and key
    # when the job service requires one, and the name on its certificate when that is not
    # the host of job_service_address. Unset: plaintext (local mode).
    job_service_tls_ca_file: Path | None = None
    job_service_tls_cert_file: Path | None = None
    job_service_tls_key_file: Path | None = None
    job_service_tls_server_name: str | None = None

    @model_validator(mode="after")
    def _tls_whole_and_bind_safe(self) -> GatewaySettings:
        """One-line start-up errors for half-configured TLS, unreadable or non-PEM files,
        and a non-loopback bind without sign-in configured."""
        self.job_service_tls()
        if not tls.is_loopback(self.host) and not self.oidc_issuer:
            raise tls.SettingsError(
                f"PGSAGE_GATEWAY_HOST={self.host} is not loopback, and no sign-in is "
                "configured: set PGSAGE_GATEWAY_OIDC_ISSUER (OpenID Connect), or bind 127.0.0.1"
            )
        return self

    def job_service_tls(self) -> tls.ClientTls | None:
        """The job-service channel's TLS, read from its files (None: plaintext)."""
        return tls.load_client(
            ca=tls.setting(self, "job_service_tls_ca_file"),
            cert=tls.setting(self, "job_service_tls_cert_file"),
            key=tls.setting(self, "job_service_tls_key_file"),
            server_name=self.job_service_tls_server_name,
        )
