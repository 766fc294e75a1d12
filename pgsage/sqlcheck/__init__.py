"""The one statement checker: parse-level rules for SQL a person hands to pgsage (pglast).

Two kinds of SQL reach a target from outside pgsage; both services check them here, before
any session opens, and the optimizer then adds only what the target's catalog can tell
(which overload a name resolves to, a column's type, a domain's CHECK, an index's owner):

- **workload queries** (`check_query`, `check_queries`, in `queries`): a CreateJob's
  `queries`, planned on a target and perhaps run by a benchmark;
- **index statements** (`check_index_statement`, `check_edit`, in `indexes`): a reviewer's
  edit of a suggestion, and what `patch.sql` exports.

Refusals are INVALID_ARGUMENT naming the field: `QueryNotAllowed` (reason
QUERY_NOT_ALLOWED, with a stable `rule` and the offending `object` in the ErrorInfo
metadata) and `StatementNotAllowed` (reason INVALID_STATEMENT).

    from pgsage import sqlcheck
    sqlcheck.check_query("SELECT ...", field="job.queries[0]")      # None or raises
    stmt = sqlcheck.check_index_statement(sql, field="suggestion.edited_sql")
"""

from __future__ import annotations

from pgsage.sqlcheck.indexes import (
    MAX_STATEMENT_LENGTH,
    Edit,
    IndexStatement,
    StatementNotAllowed,
    check_edit,
    check_index_statement,
    quote_ident,
)
from pgsage.sqlcheck.queries import (
    MAX_QUERY_LENGTH,
    QueryNotAllowed,
    check_queries,
    check_query,
    walk,
)

__all__ = [
    "MAX_QUERY_LENGTH",
    "MAX_STATEMENT_LENGTH",
    "Edit",
    "IndexStatement",
    "QueryNotAllowed",
    "StatementNotAllowed",
    "check_edit",
    "check_index_statement",
    "check_queries",
    "check_query",
    "quote_ident",
    "walk",
]
