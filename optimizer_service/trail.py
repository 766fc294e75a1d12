"""The optimizer's side of the audit trail: one log line per statement run on a target.

Every target session (`targets.connect`) gets `statement_logger(target)`, an asyncpg query
logger, so no statement slips through whichever module runs it. Each line carries the job
id the job service sent (`x-pgsage-job` metadata, kept in the `current` context variable
for the call and inherited by the tasks it starts), the RPC, the target, the statement's
kind, and its outcome. Only DDL (CREATE, DROP, ALTER, REINDEX: generated or reviewed text)
is logged in full; other statements are named by kind alone, and their arguments never,
so no data value and no DSN reaches the log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import asyncpg

from pgsage import logs

log = logging.getLogger("pgsage.optimizer.statements")

JOB_METADATA = "x-pgsage-job"
_DDL = frozenset({"CREATE", "DROP", "ALTER", "REINDEX"})
_KIND = re.compile(r"^\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*([A-Za-z]+)", re.DOTALL)
# What a job id may look like in the log (a job's name or uuid); anything else is shown
# as "invalid", so a caller cannot forge log lines through the metadata.
_JOB = re.compile(r"^[A-Za-z0-9_./:-]{1,120}$")
MAX_SQL = 2000


@dataclass(frozen=True)
class Call:
    """The RPC being served and the job it belongs to ("-" when none was sent)."""

    rpc: str
    job: str


current: ContextVar[Call | None] = ContextVar("pgsage_optimizer_call", default=None)


def enter(rpc: str, metadata: object) -> None:
    """Records the call (RPC name and `x-pgsage-job`) for the statements it runs."""
    job = "-"
    for key, value in metadata or ():  # type: ignore[attr-defined]
        if key == JOB_METADATA:
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            job = text if _JOB.match(text) else "invalid"
    current.set(Call(rpc=rpc, job=job))
    logs.bind(job=job if job != "-" else None)  # and every log line of the call


def kind_of(sql: str) -> str:
    """The statement's leading keyword, upper case (`CREATE`, `SELECT`, ...)."""
    match = _KIND.match(sql)
    return match[1].upper() if match else "UNKNOWN"


def statement_logger(target: str) -> Callable[[asyncpg.connection.LoggedQuery], None]:
    """An asyncpg query logger writing one structured line per statement on `target`."""

    def record(query: asyncpg.connection.LoggedQuery) -> None:
        call = current.get() or Call(rpc="-", job="-")
        kind = kind_of(query.query)
        outcome = "ok" if query.exception is None else type(query.exception).__name__
        fields = {
            "job": call.job,
            "rpc": call.rpc,
            "target": target,
            "kind": kind,
            "outcome": outcome,
            "elapsed_ms": round(query.elapsed * 1000, 1),
        }
        if kind in _DDL:
            fields["sql"] = query.query[:MAX_SQL]
        log.info(
            "statement %s",
            " ".join(f"{k}={json.dumps(v) if k == 'sql' else v}" for k, v in fields.items()),
            extra={"pgsage": fields},
        )

    return record
