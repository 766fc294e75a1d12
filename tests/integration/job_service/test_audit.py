"""The audit trail: who changed which suggestion when, listable, and kept after the job."""

from __future__ import annotations

import getpass

import grpc

from pgsage.jobs.v1 import job_service_pb2

# The header an unauthenticated caller once used to name anyone; it is ignored now.
ALICE = (("x-pgsage-actor", "alice@example.com"),)
# Local mode: the caller is the OS user running the service (and these tests).
LOCAL_USER = getpass.getuser()


async def _records(stub, flt: str) -> list:
    response = await stub.ListAuditRecords(job_service_pb2.ListAuditRecordsRequest(filter=flt))
    return list(response.audit_records)


async def test_decisions_are_audited_with_the_actor(stub, create, seed):
    job = await create("audit")
    s = await seed(job.name)
    name = f"{job.name}/suggestions/{s.id}"
    await stub.ApproveSuggestion(
        job_service_pb2.ApproveSuggestionRequest(name=name), metadata=ALICE
    )
    # Deciding the same way again changes nothing, so it is not a new record.
    await stub.ApproveSuggestion(
        job_service_pb2.ApproveSuggestionRequest(name=name), metadata=ALICE
    )
    [record] = await _records(stub, f'resource = "{name}"')
    assert record.actor == LOCAL_USER
    # Local mode's caller is verified too (the OS user of a loopback-only service).
    assert record.authenticated is True
    assert (record.action, record.from_state, record.to_state) == (
        "suggestion.approve",
        "PENDING",
        "APPROVED",
    )
    assert record.job == job.name and record.target == s.target
    assert record.name.startswith("auditRecords/") and record.time.seconds > 0


async def test_dismiss_and_edit_are_audited_with_the_verified_caller(stub, create, seed):
    job = await create("audit")
    edited = await seed(job.name)
    dismissed = await seed(job.name)
    edited_name = f"{job.name}/suggestions/{edited.id}"
    dismissed_name = f"{job.name}/suggestions/{dismissed.id}"
    await stub.DismissSuggestion(
        job_service_pb2.DismissSuggestionRequest(name=dismissed_name, reason="not now")
    )
    sql = "CREATE INDEX CONCURRENTLY orders_customer_idx ON public.orders (customer_id, id)"
    await stub.UpdateSuggestion(
        job_service_pb2.UpdateSuggestionRequest(
            suggestion={"name": edited_name, "edited_sql": sql}
        ),
        metadata=(("x-pgsage-actor", "bob"),),
    )
    [dismiss] = await _records(stub, f'resource = "{dismissed_name}"')
    assert (dismiss.actor, dismiss.action, dismiss.detail) == (
        LOCAL_USER,
        "suggestion.dismiss",
        "not now",
    )
    [edit] = await _records(stub, f'resource = "{edited_name}"')
    assert (edit.actor, edit.action, edit.statement) == (LOCAL_USER, "suggestion.edit", sql)
    by_job = await _records(stub, f'job = "{job.name}"')
    assert {r.action for r in by_job} == {"suggestion.dismiss", "suggestion.edit"}


async def test_audit_records_outlive_their_job(stub, create, seed, finish):
    job = await create("audit-delete")
    s = await seed(job.name)
    name = f"{job.name}/suggestions/{s.id}"
    await stub.DismissSuggestion(job_service_pb2.DismissSuggestionRequest(name=name))
    await finish(job.name)
    await stub.DeleteJob(job_service_pb2.DeleteJobRequest(name=job.name))
    [record] = await _records(stub, f'resource = "{name}"')
    assert record.action == "suggestion.dismiss"


async def test_audit_list_pages_and_rejects_bad_filters(stub, create, seed, expect_error):
    job = await create("audit-pages")
    for _ in range(5):
        s = await seed(job.name)
        await stub.ApproveSuggestion(
            job_service_pb2.ApproveSuggestionRequest(name=f"{job.name}/suggestions/{s.id}")
        )
    seen, token = [], ""
    while True:
        page = await stub.ListAuditRecords(
            job_service_pb2.ListAuditRecordsRequest(
                filter=f'job = "{job.name}"', page_size=2, page_token=token
            )
        )
        seen.extend(r.name for r in page.audit_records)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 5
    await expect_error(
        stub.ListAuditRecords(job_service_pb2.ListAuditRecordsRequest(filter="colour = red")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_FILTER",
    )
    await expect_error(
        stub.ListAuditRecords(
            job_service_pb2.ListAuditRecordsRequest(filter='target = "x"', page_token=token or "x")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )


async def test_a_nul_character_is_invalid_argument_naming_the_field(
    stub, create, seed, expect_error
):
    job = await create("audit-nul")
    s = await seed(job.name)
    meta = await expect_error(
        stub.DismissSuggestion(
            job_service_pb2.DismissSuggestionRequest(
                name=f"{job.name}/suggestions/{s.id}", reason="bad\x00reason"
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_CHARACTER",
    )
    assert meta["field"] == "reason"
    current = await stub.GetSuggestion(
        job_service_pb2.GetSuggestionRequest(name=f"{job.name}/suggestions/{s.id}")
    )
    assert current.state == current.PENDING  # nothing half-written


async def test_a_job_names_who_asked_for_it(stub):
    asked = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(job={"target": "audit-creator"}), metadata=ALICE
    )
    anonymous = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(job={"target": "audit-creator"})
    )
    assert asked.creator == LOCAL_USER and anonymous.creator == LOCAL_USER
    again = await stub.GetJob(job_service_pb2.GetJobRequest(name=asked.name))
    assert again.creator == LOCAL_USER
    # What the caller sends as creator is ignored (output only).
    claimed = await stub.CreateJob(
        job_service_pb2.CreateJobRequest(job={"target": "audit-creator", "creator": "root"}),
        metadata=(("x-pgsage-actor", "mallory"),),
    )
    assert claimed.creator == LOCAL_USER
