"""The gateway's settings (environment prefix `PGSAGE_GATEWAY_`), validated at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pgsage import tls

UI_DIST = Path(__file__).resolve().parent / "ui" / "dist"


class GatewaySettings(BaseSettings):
    """Where the gateway listens, where the job service is, and how long a call may take."""

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

    @field_validator("ui_dir")
    @classmethod
    def _resolve(cls, value: Path) -> Path:
        return value.resolve()

    # TLS to the job service: the CA its certificate chains to, a client certificate and key
    # when the job service requires one, and the name on its certificate when that is not
    # the host of job_service_address. Unset: plaintext (local mode).
    job_service_tls_ca_file: Path | None = None
    job_service_tls_cert_file: Path | None = None
    job_service_tls_key_file: Path | None = None
    job_service_tls_server_name: str | None = None
    # The OpenID Connect issuer people sign in with; without it the gateway serves loopback
    # only (local mode).
    oidc_issuer: str | None = None

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
