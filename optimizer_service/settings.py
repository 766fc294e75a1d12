"""Settings of the optimizer service, read once in `__main__` and passed down.

Environment variables carry the prefix `PGSAGE_OPTIMIZER_`:

- `GRPC_HOST` (default `127.0.0.1`; anything but loopback needs mutual TLS, below),
  `GRPC_PORT` (default 50052; 0 picks a free port)
- `METRICS_PORT`: Prometheus metrics (`GET /metrics`) on this port of `GRPC_HOST`; unset
  (the default): not served; 0 picks a free port
- `TLS_CERT_FILE`, `TLS_KEY_FILE` (PEM): serve TLS; `TLS_CLIENT_CA_FILE`: require a client
  certificate signed by this CA (mutual TLS); `ALLOWED_CLIENTS`: the identities admitted to
  the OptimizerService RPCs, as JSON (`["jobs.pgsage.internal"]`) or comma-separated, each
  matched against the client certificate's DNS and URI SANs and its CN. Health and
  reflection answer any client that completes the handshake
- `TARGETS_FILE`: a TOML file with one `[[targets]]` table per target (see below)
- `TARGETS`: the same list as JSON, e.g.
  `[{"name": "demo", "dsn": "postgresql://...", "what_if_engine": "transactional"}]`
  (targets from both sources are merged; a name may appear once)
- `GRACE_SECONDS` (default 10), `CONNECT_TIMEOUT_SECONDS` (default 5)
- `SESSION_POOL_SIZE` (default 16, a job service's default number of concurrent jobs): idle
  analysis sessions kept per target for the next Analyze (0: every analysis opens and
  closes its own sessions). Smaller than the analyses running at once, sessions churn:
  opening one costs the target a backend start (and TLS), several times a cheap analysis
- `SESSION_IDLE_SECONDS` (default 60): an idle pooled session is closed after this long, so
  a quiet optimizer holds no target connections
- `TARGET_CHECK_SECONDS` (default 2): the time ListTargets and GetDiagnostics give each
  target (in parallel); one that does not answer in time is reported "not answering since
  ..." with what was last known of it, and never delays or empties the others

A target, in TOML::

    [[targets]]
    name = "shop"                      # how jobs and the UI refer to it
    dsn = "postgresql://advisor:secret@db:5432/shop"   # secret: never returned or logged
    apply_allowed = false              # whether Apply/Rollback may run (a later issue)
    what_if_engine = "hypopg"          # or "transactional" (opt-in: sandboxes, demo)
    statement_timeout_ms = 30000       # for every statement of an analysis (milliseconds;
                                       # `statement_timeout` is accepted too)
    lock_timeout_ms = 1000             # for the transactional engine and verified drops
                                       # (`lock_timeout` is accepted too)
    sandbox = "shop-sandbox"           # optional: the target benchmarks run on
    benchmark_sampling = false         # without a sandbox: may a benchmark copy a sample of
                                       # the touched tables into a scratch schema on this
                                       # target (opt-in; it reads and writes on the target)
    sample_percent = 10.0              # the sample's size, in percent of each table
    show_values = false                # whether data values (a benchmark's drawn parameter
                                       # values, the constants plans show) may be returned;
                                       # otherwise each is `<redacted>` and never leaves
    build_timeout_ms = 0               # APPLY/ROLLBACK: the longest the change statement
                                       # (CREATE/DROP INDEX CONCURRENTLY) may run; 0: none.
                                       # lock_timeout_ms bounds its lock waits
    # optional: builds and benchmarks wait while the target is busier than this
    # max_target_load = { active_sessions = 30, replication_lag_seconds = 10 }
    max_sessions = 4                   # the most sessions this optimizer holds open on the
                                       # target at once, idle kept ones included; work
                                       # beyond it waits its turn (`optimizer_service.budget`)
    verification_window_seconds = 3600 # how long after an APPLY its VERIFY job compares the
                                       # affected queries (`verification_window` too)
    on_regression = "notify"           # a REGRESSED verdict: "notify", or "rollback" (a
                                       # ROLLBACK job on behalf of "pgsage policy")
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from optimizer_service.budget import SessionBudget
from pgsage import tls

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class TargetLoad(BaseModel):
    """How busy a target may be before pgsage starts a build or a benchmark on it."""

    model_config = {"frozen": True, "extra": "forbid"}

    active_sessions: int | None = Field(default=None, ge=0)
    replication_lag_seconds: float | None = Field(default=None, ge=0)
    check_seconds: float = Field(default=5.0, gt=0, le=600)


class TargetConfig(BaseModel):
    """One target database, configured by name; its DSN never leaves the optimizer."""

    model_config = {"frozen": True, "extra": "forbid", "populate_by_name": True}

    name: str
    dsn: SecretStr
    apply_allowed: bool = False
    what_if_engine: Literal["hypopg", "transactional"] = "hypopg"
    statement_timeout_ms: int = Field(
        default=30_000,
        ge=100,
        validation_alias=AliasChoices("statement_timeout_ms", "statement_timeout"),
    )
    lock_timeout_ms: int = Field(
        default=1_000,
        ge=10,
        validation_alias=AliasChoices("lock_timeout_ms", "lock_timeout"),
    )
    sandbox: str | None = None
    benchmark_sampling: bool = False
    sample_percent: float = Field(default=10.0, gt=0, le=100)
    show_values: bool = False
    max_sessions: int = Field(default=4, ge=1, le=1000)
    max_target_load: TargetLoad | None = None
    build_timeout_ms: int = Field(
        default=0,
        ge=0,
        le=24 * 3600 * 1000,
        validation_alias=AliasChoices("build_timeout_ms", "build_timeout"),
    )
    verification_window_seconds: float = Field(
        default=3600.0,
        gt=0,
        le=30 * 24 * 3600,
        validation_alias=AliasChoices("verification_window_seconds", "verification_window"),
    )
    on_regression: Literal["notify", "rollback"] = "notify"
    _budget: SessionBudget | None = PrivateAttr(default=None)

    @property
    def sessions(self) -> SessionBudget:
        """This optimizer's places on the target (made on first use)."""
        if self._budget is None:
            self._budget = SessionBudget(self.name, self.max_sessions)
        return self._budget

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError("a target name is 1-63 letters, digits, '_', '.', '-'")
        return value


class Settings(BaseSettings):
    """Everything the optimizer needs to start; validated at start-up (fail fast)."""

    model_config = SettingsConfigDict(env_prefix="PGSAGE_OPTIMIZER_", extra="ignore")

    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50052, ge=0, le=65535)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # A plaintext port of grpc_host serving only grpc.health.v1, for probes that cannot speak
    # TLS (Kubernetes' native gRPC probes); unset: not served (0 picks a free port).
    health_port: int | None = Field(default=None, ge=0, le=65535)
    targets_file: Path | None = None
    targets: list[TargetConfig] = Field(default_factory=list)
    grace_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0
    session_pool_size: int = Field(default=16, ge=0)
    session_idle_seconds: float = Field(default=60.0, gt=0)
    target_check_seconds: float = Field(default=2.0, gt=0)
    # Mutual TLS (see the module docstring). Unset: plaintext, on loopback only.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    allowed_clients: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("allowed_clients", mode="before")
    @classmethod
    def _clients_from_text(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _tls_whole_and_bind_safe(self) -> Settings:
        """One-line start-up errors for half-configured TLS, unreadable or non-PEM files, an
        allow-list without mutual TLS, and a non-loopback bind without mutual TLS."""
        server_tls = self.server_tls()
        mutual = server_tls is not None and server_tls.client_ca is not None
        if self.allowed_clients and not mutual:
            raise tls.SettingsError(
                "PGSAGE_OPTIMIZER_ALLOWED_CLIENTS needs mutual TLS: set "
                "PGSAGE_OPTIMIZER_TLS_CERT_FILE, _TLS_KEY_FILE and _TLS_CLIENT_CA_FILE"
            )
        if mutual and not self.allowed_clients:
            raise tls.SettingsError(
                "PGSAGE_OPTIMIZER_TLS_CLIENT_CA_FILE is set but PGSAGE_OPTIMIZER_ALLOWED_CLIENTS "
                "is empty: name the client identities (the job service's) to admit"
            )
        if not tls.is_loopback(self.grpc_host) and not mutual:
            raise tls.SettingsError(
                f"PGSAGE_OPTIMIZER_GRPC_HOST={self.grpc_host} is not loopback, and no mutual TLS "
                "is configured: set PGSAGE_OPTIMIZER_TLS_CERT_FILE, _TLS_KEY_FILE, "
                "_TLS_CLIENT_CA_FILE and _ALLOWED_CLIENTS, or bind 127.0.0.1"
            )
        return self

    def server_tls(self) -> tls.ServerTls | None:
        """This server's TLS, read from its files (None: plaintext)."""
        return tls.load_server(
            cert=tls.setting(self, "tls_cert_file"),
            key=tls.setting(self, "tls_key_file"),
            client_ca=tls.setting(self, "tls_client_ca_file"),
        )

    @field_validator("targets", mode="before")
    @classmethod
    def _targets_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @model_validator(mode="after")
    def _merge_file_targets(self) -> Settings:
        if self.targets_file is not None:
            with self.targets_file.open("rb") as f:
                data = tomllib.load(f)
            extra = [TargetConfig.model_validate(t) for t in data.get("targets", [])]
            self.targets = [*self.targets, *extra]
        names = [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"target names must be unique; repeated: {', '.join(dupes)}")
        for t in self.targets:
            if t.sandbox is not None and t.sandbox not in names:
                raise ValueError(f"target {t.name!r} names an unknown sandbox {t.sandbox!r}")
        return self

    def target(self, name: str) -> TargetConfig | None:
        """The target called `name`, or None."""
        return next((t for t in self.targets if t.name == name), None)
