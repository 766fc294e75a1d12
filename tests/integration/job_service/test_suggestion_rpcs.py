"""Suggestions through the real API, seeded through the repository: list, get, approve,
dismiss, update (notes and edited SQL), with etags and illegal transitions."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from pgsage import errors
from pgsage.jobs.v1 import job_service_pb2, suggestion_pb2

S = suggestion_pb2.Suggestion


def name_of(job, s) -> str:
    return f"{job.name}/suggestions/{s.id}"


async def test_list_and_get(stub, create, seed, expect_error):
    job = await create("sugg-list")
    other = await create("sugg-list-other")
    a = await seed(job.name, target="sugg-list")
    b = await seed(
        job.name,
        target="sugg-list",
        kind="DROP_UNUSED_INDEX",
        sql="DROP INDEX CONCURRENTLY public.old_idx",
    )
    c = await seed(other.name, target="sugg-list-other", state="DISMISSED")
    listed = await stub.ListSuggestions(job_service_pb2.ListSuggestionsRequest(parent=job.name))
    assert [s.name for s in listed.suggestions] == [name_of(job, b), name_of(job, a)]
    everywhere = await stub.ListSuggestions(
        job_service_pb2.ListSuggestionsRequest(parent="jobs/-", filter='target = "sugg-list-other"')
    )
    assert [s.name for s in everywhere.suggestions] == [name_of(other, c)]
    by_kind = await stub.ListSuggestions(
        job_service_pb2.ListSuggestionsRequest(
            parent="jobs/-", filter=f'kind = DROP_UNUSED_INDEX AND job = "{job.name}"'
        )
    )
    assert [s.name for s in by_kind.suggestions] == [name_of(job, b)]
    for flt, expected in [
        ("state = DISMISSED AND target = sugg-list-other", [name_of(other, c)]),
        ("benchmarked = true AND target = sugg-list", []),
        ("superseded = false AND target = sugg-list", [name_of(job, b), name_of(job, a)]),
    ]:
        response = await stub.ListSuggestions(
            job_service_pb2.ListSuggestionsRequest(parent="jobs/-", filter=flt)
        )
        assert [s.name for s in response.suggestions] == expected, flt
    paged = await stub.ListSuggestions(
        job_service_pb2.ListSuggestionsRequest(parent=job.name, page_size=1)
    )
    assert paged.next_page_token
    await expect_error(
        stub.ListSuggestions(
            job_service_pb2.ListSuggestionsRequest(
                parent="jobs/-", page_token=paged.next_page_token
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )
    got = await stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=name_of(job, a)))
    assert got.state == S.PENDING and got.kind == S.CREATE_INDEX and got.etag
    assert got.sql.startswith("CREATE INDEX CONCURRENTLY") and got.target == "sugg-list"
    await expect_error(
        stub.GetSuggestion(
            job_service_pb2.GetSuggestionRequest(name=f"{other.name}/suggestions/{a.id}")
        ),
        grpc.StatusCode.NOT_FOUND,
        "SUGGESTION_NOT_FOUND",
    )
    await expect_error(
        stub.GetSuggestion(job_service_pb2.GetSuggestionRequest(name=job.name)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_NAME",
    )
    await expect_error(
        stub.ListSuggestions(
            job_service_pb2.ListSuggestionsRequest(parent="jobs/-", filter="benchmarked = maybe")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FILTER",
    )


async def test_approve_and_dismiss(stub, create, seed, expect_error):
    job = await create()
    s = await seed(job.name)
    name = name_of(job, s)
    approved = await stub.ApproveSuggestion(
        job_service_pb2.ApproveSuggestionRequest(name=name, etag=s.etag)
    )
    assert approved.state == S.APPROVED and approved.etag != s.etag
    again = await stub.ApproveSuggestion(job_service_pb2.ApproveSuggestionRequest(name=name))
    assert again == approved
    await expect_error(
        stub.DismissSuggestion(job_service_pb2.DismissSuggestionRequest(name=name)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )
    d = await seed(job.name)
    dname = name_of(job, d)
    await expect_error(
        stub.DismissSuggestion(job_service_pb2.DismissSuggestionRequest(name=dname, etag="41")),
        grpc.StatusCode.ABORTED,
        "ETAG_MISMATCH",
    )
    dismissed = await stub.DismissSuggestion(
        job_service_pb2.DismissSuggestionRequest(
            name=dname, etag=d.etag, reason="we never filter on it"
        )
    )
    assert dismissed.state == S.DISMISSED and dismissed.dismiss_reason == "we never filter on it"
    meta = await expect_error(
        stub.ApproveSuggestion(job_service_pb2.ApproveSuggestionRequest(name=dname)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )
    assert meta["state"] == "DISMISSED"


async def test_a_superseded_suggestion_cannot_be_approved(stub, create, seed, db, expect_error):
    job = await create()
    s = await seed(job.name)
    async with db.connection() as conn:
        await conn.execute("UPDATE suggestion SET superseded = true WHERE id = $1", s.id)
    await expect_error(
        stub.ApproveSuggestion(job_service_pb2.ApproveSuggestionRequest(name=name_of(job, s))),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )


def update(
    name: str, *paths: str, etag: str = "", **fields
) -> job_service_pb2.UpdateSuggestionRequest:
    return job_service_pb2.UpdateSuggestionRequest(
        suggestion=S(name=name, etag=etag, **fields),
        update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
    )


async def test_update_notes_and_edited_sql(stub, create, seed, expect_error):
    job = await create()
    s = await seed(job.name)
    name = name_of(job, s)
    noted = await stub.UpdateSuggestion(update(name, "notes", notes="looks right", etag=s.etag))
    assert noted.notes == "looks right" and noted.state == S.PENDING
    edit = (
        "create index concurrently orders_customer_day_idx on public.orders "
        "(customer_id, (created_at::date)) include (total) where status <> 'void'"
    )
    edited = await stub.UpdateSuggestion(update(name, "edited_sql", edited_sql=edit))
    assert edited.edited_sql.startswith(
        "CREATE INDEX CONCURRENTLY orders_customer_day_idx ON public.orders"
    )
    assert edited.edited_rollback_sql == (
        "DROP INDEX CONCURRENTLY IF EXISTS public.orders_customer_day_idx"
    )
    assert edited.sql == s.sql and edited.notes == "looks right"
    # An approved suggestion whose SQL changes goes back to PENDING; notes alone do not.
    approved = await stub.ApproveSuggestion(job_service_pb2.ApproveSuggestionRequest(name=name))
    still = await stub.UpdateSuggestion(update(name, "notes", notes="ok by DBA"))
    assert still.state == S.APPROVED
    reedited = await stub.UpdateSuggestion(
        update(
            name,
            "edited_sql",
            edited_sql="CREATE INDEX CONCURRENTLY o2 ON orders (customer_id, id)",
        )
    )
    assert reedited.state == S.PENDING and approved.state == S.APPROVED
    assert reedited.edited_rollback_sql == "DROP INDEX CONCURRENTLY IF EXISTS public.o2"
    # Clearing the edit.
    cleared = await stub.UpdateSuggestion(update(name, "edited_sql", edited_sql=""))
    assert cleared.edited_sql == "" and cleared.edited_rollback_sql == ""
    await expect_error(
        stub.UpdateSuggestion(update(name, "notes", notes="x", etag=s.etag)),
        grpc.StatusCode.ABORTED,
        "ETAG_MISMATCH",
    )
    await expect_error(
        stub.UpdateSuggestion(update(name, "title", title="x")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FIELD",
    )


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        ("CREATE INDEX CONCURRENTLY i ON public.orders (a); DROP TABLE orders", "exactly one"),
        ("CREATE UNIQUE INDEX CONCURRENTLY i ON public.orders (a)", "UNIQUE"),
        ("CREATE INDEX i ON public.orders (a)", "CONCURRENTLY"),
        ("CREATE INDEX CONCURRENTLY i ON public.orders (a) TABLESPACE fast", "TABLESPACE"),
        ("CREATE INDEX CONCURRENTLY i ON public.customers (a)", "public.orders"),
        ("CREATE INDEX CONCURRENTLY ON public.orders (a)", "name the index"),
        ("CREATE INDEX CONCURRENTLY i ON public.orders (a) WHERE a > now()", "immutable"),
        ("DROP INDEX CONCURRENTLY public.orders_pkey", "CREATE INDEX"),
        ("DELETE FROM orders", "only CREATE INDEX"),
        ("CREATE INDEX CONCURRENTLY i ON", "not valid SQL"),
    ],
)
async def test_update_rejects_a_bad_edit_saying_why(stub, create, seed, expect_error, edit, why):
    job = await create()
    s = await seed(job.name)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateSuggestion(update(name_of(job, s), "edited_sql", edited_sql=edit))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert why in caught.value.details()
    meta = await expect_error(
        stub.UpdateSuggestion(update(name_of(job, s), "edited_sql", edited_sql=edit)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_STATEMENT",
    )
    assert meta["field"] == "suggestion.edited_sql"


async def test_drop_edits_keep_the_index_and_the_original_rollback(
    stub, create, seed, expect_error
):
    job = await create()
    s = await seed(
        job.name,
        kind="DROP_DUPLICATE_INDEX",
        sql="DROP INDEX CONCURRENTLY public.orders_dup_idx",
        rollback_sql="CREATE INDEX CONCURRENTLY orders_dup_idx ON public.orders (customer_id)",
    )
    name = name_of(job, s)
    edited = await stub.UpdateSuggestion(
        update(
            name, "edited_sql", edited_sql="DROP INDEX CONCURRENTLY IF EXISTS public.orders_dup_idx"
        )
    )
    assert edited.edited_sql == "DROP INDEX CONCURRENTLY IF EXISTS public.orders_dup_idx"
    assert edited.edited_rollback_sql == s.rollback_sql
    for bad in (
        "DROP INDEX CONCURRENTLY public.other_idx",
        "DROP INDEX CONCURRENTLY public.orders_dup_idx CASCADE",
        "DROP INDEX CONCURRENTLY a, b",
    ):
        await expect_error(
            stub.UpdateSuggestion(update(name, "edited_sql", edited_sql=bad)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_STATEMENT",
        )


async def test_the_sql_of_an_applied_suggestion_cannot_change(stub, create, seed, expect_error):
    job = await create()
    s = await seed(job.name, state="APPLIED")
    await expect_error(
        stub.UpdateSuggestion(
            update(
                name_of(job, s),
                "edited_sql",
                edited_sql="CREATE INDEX CONCURRENTLY z ON public.orders (a)",
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATE_TRANSITION",
    )
    noted = await stub.UpdateSuggestion(update(name_of(job, s), "notes", notes="applied Tuesday"))
    assert noted.notes == "applied Tuesday" and noted.state == S.APPLIED


async def test_a_fingerprint_is_stored_once_per_job(create, seed):
    job = await create()
    await seed(job.name, fingerprint="same-change")
    with pytest.raises(errors.AlreadyExists) as caught:
        await seed(job.name, fingerprint="same-change")
    assert caught.value.reason == "SUGGESTION_ALREADY_EXISTS"
    other = await create()
    await seed(other.name, fingerprint="same-change")  # another job may hold it
