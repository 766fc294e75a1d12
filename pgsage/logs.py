"""Log lines of the three services: text (the default) or one JSON object per line.

`PGSAGE_LOG_FORMAT=json|text` (shared by the services, read by `pgsage.server.main`) picks
the format. A JSON line has `time` (UTC, ISO 8601), `level`, `logger`, `message`, and, when
known, `rpc` (the gRPC method being served, set by `pgsage.metrics.RpcInterceptor`), `job`
(set by the job service's driver, and by the optimizer from the `x-pgsage-job` metadata) and
`target`, and `trace_id`/`span_id` while tracing is on (`pgsage.tracing`); `exception`
carries a traceback. Structured fields a module passes as `extra={"pgsage": {...}}` are
added too (never overriding the ones above).

The fields live in context variables: each RPC and each job run is a task of its own, so
what one sets never leaks into another.
"""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pgsage import tracing

FORMAT_VARIABLE = "PGSAGE_LOG_FORMAT"
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

rpc: ContextVar[str | None] = ContextVar("pgsage_log_rpc", default=None)
job: ContextVar[str | None] = ContextVar("pgsage_log_job", default=None)
target: ContextVar[str | None] = ContextVar("pgsage_log_target", default=None)
_FIELDS = {"rpc": rpc, "job": job, "target": target}


def bind(**fields: str | None) -> None:
    """Sets the named context fields (`rpc`, `job`, `target`) for the current task; empty
    values are ignored."""
    for name, value in fields.items():
        if value:
            _FIELDS[name].set(value)


def context() -> dict[str, str]:
    """The context fields known here."""
    return {name: value for name, var in _FIELDS.items() if (value := var.get())}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(context())
        line.update(tracing.current_ids())
        extra = getattr(record, "pgsage", None)
        if isinstance(extra, dict):
            for key, value in extra.items():
                line.setdefault(str(key), value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def log_format(environ: dict[str, str] | None = None) -> str:
    """`PGSAGE_LOG_FORMAT` (default text); raises ValueError naming it when it is neither."""
    value = (os.environ if environ is None else environ).get(FORMAT_VARIABLE, "").strip()
    value = value.lower() or "text"
    if value not in FORMATS:
        raise ValueError(f"{FORMAT_VARIABLE} must be 'json' or 'text', not {value!r}")
    return value


def configure(fmt: str, level: int | str = logging.INFO) -> None:
    """Sends the root logger's records to stderr in `fmt` ('text' or 'json'), unless the
    root logger already has a handler (as `logging.basicConfig`)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


def is_json() -> bool:
    """Whether the root logger writes JSON lines (`configure("json")` ran)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)
