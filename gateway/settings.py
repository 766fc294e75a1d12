"""The gateway's settings (environment prefix `PGSAGE_GATEWAY_`), validated at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
