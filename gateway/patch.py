"""A job's approved suggestions as one SQL script a DBA can read, review and run with psql.

Each statement is the reviewer's edited SQL when there is one, the optimizer's otherwise,
under comments with its title, rationale and rollback. The file is safe to run with
`psql -v ON_ERROR_STOP=1 -f patch.sql`, whatever the target's names contain:

- only statements that pass `pgsage.sqlcheck.check_index_statement` are written (one
  `CREATE/DROP INDEX CONCURRENTLY` each); anything else becomes a comment saying why;
- each statement is written on one line, re-rendered from its parse tree: identifiers are
  quoted by PostgreSQL's rules, and a quoted name or string holding a line break or any
  other unprintable character is written with escapes (`U&"t\\000aDROP ..."`, `E'\\u000a'`),
  so no name can start a line (a psql meta-command such as `\\!`) or end a comment; a `:`
  never touches a name (psql would interpolate `:name` and `:"name"`); the re-rendered
  statement must parse to the same tree, or it is not written;
- every comment is `-- ` and one line: line breaks in titles and rationales start a new
  `-- ` line, and every other unprintable character (CR, U+0085, U+2028, ...) is escaped.

`CREATE/DROP INDEX CONCURRENTLY` cannot run inside a transaction block: the statements
stand on their own (psql runs each in autocommit).
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pglast

from pgsage import sqlcheck
from pgsage.jobs.v1 import job_pb2, suggestion_pb2
from pgsage.sqlcheck import render as sql_render


def _visible(char: str) -> str:
    """`char` as itself when printable, else an escape a reader can see (`\\u2028`)."""
    if char == " " or char.isprintable():
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _comment(text: str, width: int = 96) -> list[str]:
    """`text` as `-- ` lines: one per line of it (wrapped), nothing able to end a comment."""
    lines: list[str] = []
    for paragraph in text.split("\n") or [""]:
        clean = "".join(_visible(c) for c in paragraph)
        wrapped = textwrap.wrap(clean, width, replace_whitespace=False) or [""]
        lines.extend(f"-- {line}".rstrip() for line in wrapped)
    return lines


def _one(text: str) -> str:
    """A single comment line's worth of `text`."""
    return "".join(_visible(c) for c in text.replace("\n", " "))


def _escaped_ident(value: str) -> str:
    out = []
    for c in value:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('""')
        elif c.isprintable():
            out.append(c)
        else:
            code = ord(c)
            out.append(f"\\{code:04x}" if code <= 0xFFFF else f"\\+{code:06x}")
    return 'U&"' + "".join(out) + '"'


def _escaped_string(value: str) -> str:
    out = []
    for c in value:
        if c in ("\\", "'"):
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        else:
            code = ord(c)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "E'" + "".join(out) + "'"


def _token(text: str) -> str:
    """A token of RawStream's output, rewritten with escapes when it holds a control char."""
    if all(c == " " or c.isprintable() for c in text):
        return text
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return _escaped_ident(text[1:-1].replace('""', '"'))
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return _escaped_string(text[1:-1].replace("''", "'"))
    raise ValueError("an unprintable character outside a name or string")


def _rendered(sql: str) -> str:
    """The one statement of `sql` as pglast renders its parse tree."""
    stmt = pglast.parse_sql(sql)[0].stmt
    if stmt is None:
        raise ValueError("no statement")
    return sql_render.render(stmt)


def one_line(sql: str) -> str:
    """`sql` (one checked statement) as one psql-safe line meaning exactly the same."""
    rendered = _rendered(sql)
    out: list[str] = []
    position = 0
    tokens = list(pglast.parser.scan(rendered))
    for i, token in enumerate(tokens):
        out.append(rendered[position : token.start])
        text = _token(rendered[token.start : token.end + 1])
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if text == ":" and following is not None and following.start == token.end + 1:
            text = ": "  # `:name` / `:"name"` would be a psql variable
        out.append(text)
        position = token.end + 1
    out.append(rendered[position:])
    line = "".join(out)
    if any(not (c == " " or c.isprintable()) for c in line):
        raise ValueError("the statement does not fit on one line")
    if _rendered(line) != rendered:
        raise ValueError("the statement does not survive being written on one line")
    return line


def statement_of(suggestion: suggestion_pb2.Suggestion) -> tuple[str, str]:
    """The SQL to run and to undo it: the edited versions first, the originals as fallback."""
    if suggestion.edited_sql.strip():
        return suggestion.edited_sql, suggestion.edited_rollback_sql or suggestion.rollback_sql
    return suggestion.sql, suggestion.rollback_sql


def _runnable(sql: str) -> tuple[str | None, str]:
    """(the line to run, '') or (None, why it is not written)."""
    try:
        sqlcheck.check_index_statement(sql, field="sql")
        return one_line(sql) + ";", ""
    except sqlcheck.StatementNotAllowed as exc:
        return None, exc.message
    except (ValueError, pglast.parser.ParseError) as exc:
        return None, str(exc)
    except RecursionError:
        return None, "the statement nests too deeply to be re-rendered safely"


def render(
    job: job_pb2.Job,
    suggestions: list[suggestion_pb2.Suggestion],
    now: datetime | None = None,
) -> str:
    """The script for `job`'s approved `suggestions`, in the order given."""
    now = now or datetime.now(UTC)
    out = [
        f"-- pgsage patch for {_one(job.name)} on target {_one(repr(job.target))}",
        f"-- generated {now.strftime('%Y-%m-%d %H:%M:%S UTC')}; "
        f"{len(suggestions)} approved suggestion(s)",
        "--",
        "-- CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block:",
        "-- run this file as it is (psql -v ON_ERROR_STOP=1 -f patch.sql), not inside BEGIN.",
        "",
    ]
    if not suggestions:
        out.append("-- nothing to apply: this job has no approved suggestion.")
        return "\n".join(out) + "\n"
    for number, suggestion in enumerate(suggestions, start=1):
        sql, rollback = statement_of(suggestion)
        block = [f"-- {number}. {_one(suggestion.title or suggestion.name)}"]
        if suggestion.rationale:
            block.extend(_comment(suggestion.rationale))
        block.append(f"-- suggestion: {_one(suggestion.name)}")
        if suggestion.edited_sql.strip():
            block.append("-- edited by a reviewer; the original was:")
            block.extend(_comment(suggestion.sql))
        if rollback.strip():
            block.append("-- rollback:")
            block.extend(_comment(rollback))
        line, why = _runnable(sql)
        if line is None:
            block.append("-- NOT WRITTEN: the stored statement did not pass pgsage's check:")
            block.extend(_comment(why))
            block.extend(_comment(sql))
            out.extend([*block, ""])
        else:
            out.extend([*block, line, ""])
    return "\n".join(out)
