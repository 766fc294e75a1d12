"""The suggestion RPCs of `pgsage.jobs.v1.JobService`: list, get, approve, dismiss, and
update (notes, edited SQL) a suggestion.

A mixin of `servicer.JobServicer`. Approve and dismiss run one guarded statement with their
audit record; UpdateSuggestion reads, checks the edit, then writes guarded by the version it
read.
"""

from __future__ import annotations

import logging

import grpc

from job_service import (
    audit,
    authz,
    database,
    domain,
    errors,
    filters,
    jobs,
    mappers,
    names,
    pagination,
    suggestions,
)
from job_service.handlers import HandlerBase, _caller, _entry
from job_service.principals import Principal, Role
from pgsage import sqlcheck
from pgsage.jobs.v1 import (
    job_service_pb2,
    suggestion_pb2,
)

log = logging.getLogger(__name__)

MAX_NOTES = 10_000
MAX_SQL = sqlcheck.MAX_STATEMENT_LENGTH  # the one limit both services apply


class SuggestionHandlers(HandlerBase):
    async def ListSuggestions(
        self, request: job_service_pb2.ListSuggestionsRequest, context: grpc.aio.ServicerContext
    ) -> job_service_pb2.ListSuggestionsResponse:
        caller = _caller(context)
        job_id = names.parse_parent(request.parent)
        flt = filters.parse(request.filter, suggestions.FILTER_FIELDS)
        size = pagination.page_size(request.page_size)
        digest = filters.Filter((*flt.terms, filters.Term("parent", "=", (request.parent,))))
        position = pagination.decode(request.page_token, digest.digest)
        async with self._db.connection() as conn:
            if job_id is not None:
                await self._job(conn, caller, job_id)
            page = await suggestions.list_page(
                conn, job_id, flt, position, size, authz.visible_patterns(caller)
            )
        return job_service_pb2.ListSuggestionsResponse(
            suggestions=[mappers.suggestion_to_proto(s) for s in page.items],
            next_page_token=(
                pagination.encode(page.next_position, digest.digest) if page.next_position else ""
            ),
        )

    async def GetSuggestion(
        self, request: job_service_pb2.GetSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> suggestion_pb2.Suggestion:
        caller = _caller(context)
        job_id, suggestion_id = names.parse_suggestion(request.name)
        async with self._db.connection() as conn:
            found = await self._suggestion(conn, caller, job_id, suggestion_id)
        return mappers.suggestion_to_proto(found)

    async def ApproveSuggestion(
        self, request: job_service_pb2.ApproveSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> suggestion_pb2.Suggestion:
        caller = _caller(context)
        job_id, suggestion_id = names.parse_suggestion(request.name)
        async with self._db.transaction() as conn:
            before = await self._suggestion(
                conn, caller, job_id, suggestion_id, Role.REVIEWER, "suggestions.approve"
            )
            found = await suggestions.decide(
                conn,
                job_id,
                suggestion_id,
                state="APPROVED",
                etag=request.etag,
                decider=(caller.subject, caller.display_name),
            )
            await self._audit_change(conn, caller, "suggestion.approve", before, found)
        log.info("suggestion %s of job %s: %s", suggestion_id, job_id, found.state)
        return mappers.suggestion_to_proto(found)

    async def DismissSuggestion(
        self, request: job_service_pb2.DismissSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> suggestion_pb2.Suggestion:
        caller = _caller(context)
        job_id, suggestion_id = names.parse_suggestion(request.name)
        if len(request.reason) > MAX_NOTES:
            raise errors.InvalidField("reason", f"reason is at most {MAX_NOTES} characters")
        async with self._db.transaction() as conn:
            before = await self._suggestion(
                conn, caller, job_id, suggestion_id, Role.REVIEWER, "suggestions.dismiss"
            )
            found = await suggestions.decide(
                conn,
                job_id,
                suggestion_id,
                state="DISMISSED",
                etag=request.etag,
                dismiss_reason=request.reason,
            )
            await self._audit_change(
                conn, caller, "suggestion.dismiss", before, found, detail=request.reason
            )
        log.info("suggestion %s of job %s: %s", suggestion_id, job_id, found.state)
        return mappers.suggestion_to_proto(found)

    async def UpdateSuggestion(
        self, request: job_service_pb2.UpdateSuggestionRequest, context: grpc.aio.ServicerContext
    ) -> suggestion_pb2.Suggestion:
        caller = _caller(context)
        if not request.HasField("suggestion"):
            raise errors.MissingField("suggestion")
        given = request.suggestion
        job_id, suggestion_id = names.parse_suggestion(given.name, field="suggestion.name")
        paths = list(request.update_mask.paths) or ["notes", "edited_sql"]
        for path in paths:
            if path not in ("notes", "edited_sql"):
                raise errors.InvalidField(
                    "update_mask", f"only notes and edited_sql can be updated, not {path!r}"
                )
        if len(given.notes) > MAX_NOTES:
            raise errors.InvalidField("suggestion.notes", f"at most {MAX_NOTES} characters")
        if len(given.edited_sql) > MAX_SQL:
            raise errors.InvalidStatement(f"at most {MAX_SQL} characters")
        # Read, check (the optimizer's check of an edit is a network call), then write in a
        # short transaction guarded by the version read: no transaction is held open across
        # the call, and a change made meanwhile answers ABORTED like a stale etag.
        async with self._db.connection() as conn:
            current = await self._suggestion(
                conn, caller, job_id, suggestion_id, Role.REVIEWER, "suggestions.update"
            )
        if given.etag and current.version != jobs.expected_version(given.etag):
            raise errors.EtagMismatch(given.name, given.etag, current.etag)
        notes = given.notes if "notes" in paths else current.notes
        edited_sql, edited_rollback = current.edited_sql, current.edited_rollback_sql
        if "edited_sql" in paths:
            edited_sql, edited_rollback = self._check_edit(current, given.edited_sql)
        if edited_sql != current.edited_sql and current.state not in ("PENDING", "APPROVED"):
            raise errors.InvalidStateTransition(
                given.name,
                current.state,
                "edit the SQL of",
                why="only PENDING or APPROVED suggestions can be edited",
            )
        if edited_sql != current.edited_sql and edited_sql is not None:
            # Checked against the target itself (tables, columns, the index to drop)
            # when an optimizer is configured; without one, the local checks above stand.
            await self._optimizer.validate_edit(current, edited_sql)
        async with self._db.transaction() as conn:
            updated = await suggestions.update(
                conn,
                current,
                notes=notes,
                edited_sql=edited_sql,
                edited_rollback_sql=edited_rollback,
            )
            if edited_sql != current.edited_sql:
                await self._audit_change(
                    conn,
                    caller,
                    "suggestion.edit",
                    current,
                    updated,
                    statement=edited_sql or "",
                    detail="edited SQL" if edited_sql else "edit cleared: the original SQL applies",
                )
            elif notes != current.notes:
                await self._audit_change(conn, caller, "suggestion.notes", current, updated)
        return mappers.suggestion_to_proto(updated)

    async def _audit_change(
        self,
        conn: database.Connection,
        caller: Principal,
        action: str,
        before: domain.Suggestion,
        after: domain.Suggestion,
        *,
        statement: str = "",
        detail: str = "",
    ) -> None:
        """Records a change of a suggestion in the audit trail (nothing when it did not
        change: deciding the same way twice is not a new decision)."""
        if after.version == before.version:
            return
        await audit.record(
            conn,
            _entry(
                caller,
                action=action,
                resource=names.suggestion_name(after.job_id, after.id),
                job_id=after.job_id,
                target=after.target,
                statement=statement,
                outcome="OK",
                detail=detail,
                from_state=before.state,
                to_state=after.state,
            ),
        )

    @staticmethod
    @staticmethod
    def _check_edit(current: domain.Suggestion, text: str) -> tuple[str | None, str | None]:
        """The edit to store (None, None clears it) and its rollback."""
        if not text.strip():
            return None, None
        edit = sqlcheck.check_edit(
            kind=current.kind,
            original_sql=current.sql,
            original_rollback_sql=current.rollback_sql,
            edited_sql=text,
        )
        if edit.sql == current.edited_sql:
            return current.edited_sql, current.edited_rollback_sql
        return edit.sql, edit.rollback_sql
