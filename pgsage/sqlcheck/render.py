"""Writing a parse tree back as SQL, with names quoted wherever PostgreSQL needs it.

Every place pgsage re-renders a statement (the normalized form of a checked index
statement, patch.sql's lines, a benchmark's queries, the guard's type names) goes through
`render`. It uses pglast's `RawStream` with one correction: pglast 8.7 decides that a name
needs no double quotes with the pattern `[a-z_][a-z0-9_]*$`, and `$` also matches before a
final newline, so the column `"_\n"` came out as `_` and a line break, which names a
different column. `\\Z` matches only at the end.
"""

from __future__ import annotations

import re
from typing import Any

import pglast.stream
from pglast.stream import RawStream

pglast.stream.is_simple_name = re.compile(r"[a-z_][a-z0-9_]*\Z").match


def render(node: Any) -> str:
    """`node` (a pglast AST node) as one SQL text meaning the same."""
    return RawStream()(node)
