"""Settings of the job service: environment variables with the prefix `PGSAGE_JOBS_`.

Built once in `job_service.__main__` (or by a test) and passed down; nothing else reads
the environment. Secrets (the database URL holds a password) are `SecretStr` and never
logged; files in `/run/secrets` (Docker/Kubernetes secrets) are read when that folder exists.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from job_service import sealing
from pgsage import tls

_SECRETS = "/run/secrets"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PGSAGE_JOBS_",
        secrets_dir=_SECRETS if os.path.isdir(_SECRETS) else None,
        extra="ignore",
    )

    # postgresql://user:password@host:port/db. Unset: an embedded PostgreSQL in `data_dir`.
    database_url: SecretStr | None = None
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / ".pgsage" / "jobs-postgres")
    # Loopback by default: serving beyond this machine needs authentication (oidc_issuer).
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    # Prometheus metrics (`GET /metrics`) on this port of grpc_host; unset: not served
    # (0 picks a free port).
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # A plaintext port of grpc_host serving only grpc.health.v1, for probes that cannot speak
    # TLS (Kubernetes' native gRPC probes); unset: not served (0 picks a free port).
    health_port: int | None = Field(default=None, ge=0, le=65535)
    # host:port of pgsage.optimizer.v1.OptimizerService; unset until one is deployed.
    optimizer_address: str | None = None
    optimizer_timeout: timedelta = timedelta(seconds=3)
    optimizer_check_interval: timedelta = timedelta(seconds=5)
    # Finished jobs are deleted this long after they end.
    job_ttl: timedelta = timedelta(days=30)
    expiry_interval: timedelta = timedelta(minutes=1)
    expiry_batch: int = Field(default=500, ge=1)
    # Workload snapshots (what verifications compare, what the target page charts) are
    # deleted this long after they were taken.
    snapshot_retention: timedelta = timedelta(days=90)
    # How often the database is pinged for health.
    health_interval: timedelta = timedelta(seconds=1)
    max_attempts: int = Field(default=3, ge=1)
    # The dispatcher: a running job's lease (renewed every third of it while its stream
    # lives; a job whose owner died is taken over once it lapses), how many jobs this
    # process runs at once, how often it looks for work when no notification woke it, the
    # deadline of one Analyze stream, and the backoff between attempts.
    lease: timedelta = timedelta(seconds=30)
    max_concurrent_jobs: int = Field(default=16, ge=0)
    poll_interval: timedelta = timedelta(seconds=2)
    analyze_timeout: timedelta = timedelta(hours=1)
    retry_backoff: timedelta = timedelta(seconds=1)
    max_retry_backoff: timedelta = timedelta(seconds=60)
    # Schedules: how often each replica looks for due ticks (a tick's job is created within
    # about this long of its time), how many ticks one transaction fires, and the shortest
    # interval a schedule's cron may have.
    schedule_poll_interval: timedelta = timedelta(seconds=1)
    schedule_batch: int = Field(default=100, ge=1, le=10_000)
    schedule_min_interval: timedelta = timedelta(minutes=1)
    pool_size: int = Field(default=10, ge=1)
    connect_timeout: timedelta = timedelta(seconds=3)
    shutdown_grace: timedelta = timedelta(seconds=10)
    log_level: str = "INFO"

    # Authentication. With no issuer configured the service runs in local mode (loopback
    # only, every caller is the local OS user with every role).
    # The OpenID Connect issuer whose JWTs are accepted (its discovery document gives JWKS).
    oidc_issuer: str | None = None
    # The `aud` a JWT must carry (the gateway's client id, or an API audience).
    oidc_audience: str | None = None
    # The claim holding the caller's groups, mapped to roles by `role_bindings`.
    oidc_roles_claim: str = "groups"
    # Which roles each group of `oidc_roles_claim` grants, on which targets (`*`: any run of
    # characters). Checked at start-up (`job_service.oidc.parse_bindings`):
    # [{"group": "dba", "role": "ADMIN", "targets": "*"}, ...]
    role_bindings: list[dict[str, str]] = Field(default_factory=list)
    # Target name patterns where an APPLY must be created by someone other than its approver.
    two_person_targets: list[str] = Field(default_factory=list)
    # Leeway on `exp`, `nbf` and `iat`.
    clock_skew: timedelta = timedelta(seconds=60)
    # How long the issuer's keys are used before being fetched again (an unknown `kid`
    # fetches them at most once per 30 s).
    jwks_cache: timedelta = timedelta(minutes=10)
    # How long a verified API token is trusted without reading the store again (a
    # revocation reaches every replica at once through LISTEN/NOTIFY; this bounds the rest).
    api_token_cache: timedelta = timedelta(seconds=10)

    # Webhooks (job_service.sender). Networks (CIDRs) webhooks may reach besides public
    # addresses (local mode allows every address); the POST's timeout; attempts per delivery
    # and the backoff between them (exponential with jitter, capped); how often due
    # deliveries are looked for; how long delivered and failed ones are kept.
    webhook_allowed_networks: list[str] = Field(default_factory=list)
    webhook_timeout: timedelta = timedelta(seconds=5)
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_retry_backoff: timedelta = timedelta(seconds=10)
    webhook_max_retry_backoff: timedelta = timedelta(hours=1)
    webhook_poll_interval: timedelta = timedelta(seconds=1)
    webhook_retention: timedelta = timedelta(days=30)
    # Fernet keys (comma-separated; the first seals, all open) that seal webhook signing
    # secrets in the store (job_service.sealing). Unset: secrets are stored as given.
    webhook_secret_keys: SecretStr | None = None
    # The UI's address (https://pgsage.example.com): events link to the job's page.
    public_url: str | None = None

    # TLS. Unset: plaintext, which local mode allows on loopback only.
    # This server's certificate chain and key (PEM); with a client CA, every caller must
    # present a certificate that CA signed (the handshake fails otherwise).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # The link to the optimizer: the CA its certificate chains to, this service's client
    # certificate and key (mutual TLS; the optimizer admits only identities it allows), and
    # the name on the optimizer's certificate when it is not the host of optimizer_address.
    optimizer_tls_ca_file: Path | None = None
    optimizer_tls_cert_file: Path | None = None
    optimizer_tls_key_file: Path | None = None
    optimizer_tls_server_name: str | None = None

    @field_validator("webhook_secret_keys")
    @classmethod
    def _secret_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            sealing.parse_keys(value.get_secret_value())  # the message never echoes a key
        return value

    def webhook_sealer(self) -> sealing.Sealer:
        keys = self.webhook_secret_keys
        return sealing.Sealer(sealing.parse_keys(keys.get_secret_value()) if keys else ())

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr.strip(), strict=False)  # a ValueError names the value
        return value

    @model_validator(mode="after")
    def _tls_whole_and_bind_safe(self) -> Settings:
        """Fails fast (one line naming the setting) on half-configured TLS, unreadable or
        non-PEM files, and a non-loopback bind without authentication."""
        self.server_tls()
        self.optimizer_tls()
        if not tls.is_loopback(self.grpc_host) and not self.oidc_issuer:
            raise tls.SettingsError(
                f"PGSAGE_JOBS_GRPC_HOST={self.grpc_host} is not loopback, and no authentication "
                "is configured: set PGSAGE_JOBS_OIDC_ISSUER (and TLS: PGSAGE_JOBS_TLS_CERT_FILE, "
                "PGSAGE_JOBS_TLS_KEY_FILE), or bind 127.0.0.1"
            )
        return self

    def server_tls(self) -> tls.ServerTls | None:
        """This server's TLS, read from its files (None: plaintext)."""
        return tls.load_server(
            cert=tls.setting(self, "tls_cert_file"),
            key=tls.setting(self, "tls_key_file"),
            client_ca=tls.setting(self, "tls_client_ca_file"),
        )

    def optimizer_tls(self) -> tls.ClientTls | None:
        """The optimizer channel's TLS, read from its files (None: plaintext)."""
        return tls.load_client(
            ca=tls.setting(self, "optimizer_tls_ca_file"),
            cert=tls.setting(self, "optimizer_tls_cert_file"),
            key=tls.setting(self, "optimizer_tls_key_file"),
            server_name=self.optimizer_tls_server_name,
        )
