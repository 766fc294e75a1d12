"""A job's approved suggestions as one SQL script a DBA can read, review and run with psql.

Each statement is the reviewer's edited SQL when there is one, the optimizer's otherwise,
under a comment with its title, rationale and rollback. `CREATE/DROP INDEX CONCURRENTLY`
cannot run inside a transaction block, so those statements stand on their own (psql runs
each in autocommit); any other statement goes into one BEGIN/COMMIT block at the end.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from pgsage.jobs.v1 import job_pb2, suggestion_pb2


def _comment(text: str, width: int = 96) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        wrapped = textwrap.wrap(paragraph, width) or [""]
        lines.extend(f"-- {line}".rstrip() for line in wrapped)
    return lines


def _statement(sql: str) -> str:
    sql = sql.strip()
    return sql if sql.endswith(";") else sql + ";"


def statement_of(suggestion: suggestion_pb2.Suggestion) -> tuple[str, str]:
    """The SQL to run and to undo it: the edited versions first, the originals as fallback."""
    if suggestion.edited_sql.strip():
        return suggestion.edited_sql, suggestion.edited_rollback_sql or suggestion.rollback_sql
    return suggestion.sql, suggestion.rollback_sql


def render(
    job: job_pb2.Job,
    suggestions: list[suggestion_pb2.Suggestion],
    now: datetime | None = None,
) -> str:
    """The script for `job`'s approved `suggestions`, in the order given."""
    now = now or datetime.now(UTC)
    out = [
        f"-- pgsage patch for {job.name} on target {job.target!r}",
        f"-- generated {now.strftime('%Y-%m-%d %H:%M:%S UTC')}; "
        f"{len(suggestions)} approved suggestion(s)",
        "--",
        "-- CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block:",
        "-- run this file as it is (psql -f patch.sql), not inside BEGIN ... COMMIT.",
        "",
    ]
    if not suggestions:
        out.append("-- nothing to apply: this job has no approved suggestion.")
        return "\n".join(out) + "\n"
    transactional: list[str] = []
    for number, suggestion in enumerate(suggestions, start=1):
        sql, rollback = statement_of(suggestion)
        block = [f"-- {number}. {suggestion.title or suggestion.name}"]
        if suggestion.rationale:
            block.extend(_comment(suggestion.rationale))
        block.append(f"-- suggestion: {suggestion.name}")
        if suggestion.edited_sql.strip():
            block.append("-- edited by a reviewer; the original was:")
            block.extend(_comment(suggestion.sql))
        if rollback.strip():
            block.append("-- rollback:")
            block.extend(_comment(rollback))
        statement = _statement(sql)
        if "concurrently" in sql.lower():
            out.extend([*block, statement, ""])
        else:
            transactional.extend([*block, statement, ""])
    if transactional:
        out.extend(["BEGIN;", "", *transactional, "COMMIT;", ""])
    return "\n".join(out)
