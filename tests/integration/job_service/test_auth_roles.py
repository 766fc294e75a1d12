"""Authorization: roles per target, forbidden resources answering as unknown ones, lists
filtered to what the caller may view, and the two-person rule on APPLY."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from job_service import app, optimizer
from pgsage import errors, rpc, server
from pgsage.jobs.v1 import access_pb2, job_pb2, job_service_pb2, job_service_pb2_grpc
from pgsage.optimizer.v1 import optimizer_service_pb2 as opt
from pgsage.optimizer.v1 import optimizer_service_pb2_grpc as opt_grpc
from tests.support.issuer import Issuer

BINDINGS = [
    {"group": "dba", "role": "ADMIN"},
    {"group": "viewers", "role": "VIEWER"},
    {"group": "reviewers", "role": "REVIEWER"},
    {"group": "operators", "role": "OPERATOR"},
    {"group": "staging-ops", "role": "OPERATOR", "targets": "staging-*"},
    {"group": "db-viewers", "role": "VIEWER", "targets": "db_*"},
]
Job = job_pb2.Job


class Targets(opt_grpc.OptimizerServiceServicer):
    """The optimizer's real interface with canned answers: three targets, every edit valid."""

    async def ValidateStatement(self, request, context):
        return opt.ValidateStatementResponse()

    async def ListTargets(self, request, context):
        return opt.ListTargetsResponse(
            targets=[opt.Target(name=n) for n in ("prod", "staging-1", "staging_x")]
        )


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


@pytest.fixture(scope="module")
async def optimizer_address() -> AsyncIterator[str]:
    fake = server.build_server(
        host="127.0.0.1",
        port=0,
        service_names=[optimizer.SERVICE_NAME],
        registrars=[lambda s: opt_grpc.add_OptimizerServiceServicer_to_server(Targets(), s)],
    )
    await fake.start()
    yield f"127.0.0.1:{fake.port}"
    await fake.stop(0)


@pytest.fixture(scope="module")
async def roles_stub(
    module_db, settings_for, issuer, optimizer_address
) -> AsyncIterator[job_service_pb2_grpc.JobServiceStub]:
    settings = settings_for(
        module_db,
        oidc_issuer=issuer.url,
        oidc_audience=issuer.audience,
        role_bindings=BINDINGS,
        two_person_targets=["prod*"],
        optimizer_address=optimizer_address,
    )
    running = await app.start(settings)
    async with grpc.aio.insecure_channel(running.address) as channel:
        yield job_service_pb2_grpc.JobServiceStub(channel)
    await running.stop(0.5)


@pytest.fixture(scope="module")
def people(issuer):
    """Metadata of each person by name."""
    return {
        "dana": issuer.bearer("dana", groups=["dba"]),
        "vic": issuer.bearer("vic", groups=["viewers"]),
        "rita": issuer.bearer("rita", groups=["reviewers"]),
        "otto": issuer.bearer("otto", groups=["operators"]),
        "olga": issuer.bearer("olga", groups=["operators"]),
        "sam": issuer.bearer("sam", groups=["staging-ops"]),
        "dee": issuer.bearer("dee", groups=["db-viewers"]),
        "nobody": issuer.bearer("nobody", groups=["unknown-group"]),
    }


async def _refused(call) -> tuple[grpc.StatusCode, str, dict[str, str], str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    status = rpc.status_of(caught.value)
    reason, metadata = errors.from_status(status)
    return caught.value.code(), reason, metadata, status.message


async def _job(stub, who, target: str) -> Job:
    return await stub.CreateJob(
        job_service_pb2.CreateJobRequest(job={"target": target}), metadata=who
    )


async def test_a_viewer_reads_but_cannot_approve(roles_stub, people, seed):
    job = await _job(roles_stub, people["otto"], "staging-1")
    s = await seed(job.name, target="staging-1")
    name = f"{job.name}/suggestions/{s.id}"
    got = await roles_stub.GetSuggestion(
        job_service_pb2.GetSuggestionRequest(name=name), metadata=people["vic"]
    )
    assert got.state == got.PENDING
    code, reason, meta, message = await _refused(
        roles_stub.ApproveSuggestion(
            job_service_pb2.ApproveSuggestionRequest(name=name), metadata=people["vic"]
        )
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert meta["permission"] == "suggestions.approve" and meta["target"] == "staging-1"
    assert "suggestions.approve" in message
    code, _, meta, _ = await _refused(_job(roles_stub, people["vic"], "staging-1"))
    assert (code, meta["permission"]) == (grpc.StatusCode.PERMISSION_DENIED, "jobs.create.analyze")


async def test_a_reviewer_approves_but_cannot_apply_and_only_an_admin_deletes(
    roles_stub, people, seed, finish
):
    job = await _job(roles_stub, people["otto"], "staging-1")
    s = await seed(job.name, target="staging-1")
    name = f"{job.name}/suggestions/{s.id}"
    approved = await roles_stub.ApproveSuggestion(
        job_service_pb2.ApproveSuggestionRequest(name=name), metadata=people["rita"]
    )
    assert approved.state == approved.APPROVED
    apply = job_service_pb2.CreateJobRequest(
        job={"target": "staging-1", "kind": Job.APPLY, "suggestion": name}
    )
    code, reason, meta, _ = await _refused(roles_stub.CreateJob(apply, metadata=people["rita"]))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    assert meta["permission"] == "jobs.create.apply"
    await finish(job.name)
    delete = job_service_pb2.DeleteJobRequest(name=job.name)
    code, _, meta, _ = await _refused(roles_stub.DeleteJob(delete, metadata=people["otto"]))
    assert (code, meta["permission"]) == (grpc.StatusCode.PERMISSION_DENIED, "jobs.delete")


async def test_a_caller_without_any_role_is_refused_before_any_lookup(roles_stub, people):
    unknown = f"jobs/{uuid.uuid4()}"
    code, reason, _, _ = await _refused(
        roles_stub.GetJob(job_service_pb2.GetJobRequest(name=unknown), metadata=people["nobody"])
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
    caller = await roles_stub.GetCaller(access_pb2.GetCallerRequest(), metadata=people["nobody"])
    assert caller.subject == "nobody" and not caller.role_bindings


async def test_a_job_on_a_target_the_caller_cannot_view_answers_as_an_unknown_one(
    roles_stub, people, seed
):
    sam = people["sam"]
    prod = await _job(roles_stub, people["otto"], "prod")
    s = await seed(prod.name, target="prod")
    unknown_job = f"jobs/{uuid.uuid4()}"
    unknown_suggestion = f"{prod.name}/suggestions/{uuid.uuid4()}"
    hidden_suggestion = f"{prod.name}/suggestions/{s.id}"

    async def answer(call, name: str) -> tuple:
        code, reason, meta, message = await _refused(call)
        return (
            code,
            reason,
            {k: v.replace(name, "X") for k, v in meta.items()},
            message.replace(name, "X"),
        )

    calls = {
        "GetJob": lambda n: roles_stub.GetJob(job_service_pb2.GetJobRequest(name=n), metadata=sam),
        "CancelJob": lambda n: roles_stub.CancelJob(
            job_service_pb2.CancelJobRequest(name=n), metadata=sam
        ),
        "ListSuggestions": lambda n: roles_stub.ListSuggestions(
            job_service_pb2.ListSuggestionsRequest(parent=n), metadata=sam
        ),
    }
    for rpc_name, call in calls.items():
        hidden = await answer(call(prod.name), prod.name)
        missing = await answer(call(unknown_job), unknown_job)
        assert hidden == missing, rpc_name
        assert hidden[0] == grpc.StatusCode.NOT_FOUND, rpc_name

    async def drain(n):
        async for _ in roles_stub.WatchJob(job_service_pb2.WatchJobRequest(name=n), metadata=sam):
            pass

    assert await answer(drain(prod.name), prod.name) == await answer(
        drain(unknown_job), unknown_job
    )
    for call in (
        lambda n: roles_stub.GetSuggestion(
            job_service_pb2.GetSuggestionRequest(name=n), metadata=sam
        ),
        lambda n: roles_stub.ApproveSuggestion(
            job_service_pb2.ApproveSuggestionRequest(name=n), metadata=sam
        ),
    ):
        hidden = await answer(call(hidden_suggestion), hidden_suggestion)
        assert hidden == await answer(call(unknown_suggestion), unknown_suggestion)
        assert hidden[0] == grpc.StatusCode.NOT_FOUND


async def test_lists_show_only_the_targets_the_caller_can_view(roles_stub, people, seed, db):
    sam, dana = people["sam"], people["dana"]
    prod = await _job(roles_stub, people["otto"], "prod")
    staging = await _job(roles_stub, sam, "staging-2")
    for job in (prod, staging):
        s = await seed(job.name, target=job.target)
        await roles_stub.DismissSuggestion(
            job_service_pb2.DismissSuggestionRequest(name=f"{job.name}/suggestions/{s.id}"),
            metadata=dana,
        )
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO audit_record (id, actor, action, resource, outcome) "
            "VALUES ($1, 'pgsage', 'service.start', '', 'OK')",
            uuid.uuid4(),
        )

    listed = await roles_stub.ListJobs(job_service_pb2.ListJobsRequest(), metadata=sam)
    listed_names = {j.name for j in listed.jobs}
    assert staging.name in listed_names and prod.name not in listed_names
    assert all(j.target.startswith("staging-") for j in listed.jobs)
    # `_` in a pattern is a character, not LIKE's wildcard.
    db_jobs = [await _job(roles_stub, people["otto"], t) for t in ("db_1", "dbX1")]
    seen = await roles_stub.ListJobs(job_service_pb2.ListJobsRequest(), metadata=people["dee"])
    assert [j.name for j in seen.jobs] == [db_jobs[0].name]
    counted = await roles_stub.CountJobs(
        job_service_pb2.CountJobsRequest(filter='target = "prod"'), metadata=sam
    )
    assert counted.total == 0
    everything = await roles_stub.CountJobs(job_service_pb2.CountJobsRequest(), metadata=dana)
    assert (
        everything.total
        > (await roles_stub.CountJobs(job_service_pb2.CountJobsRequest(), metadata=sam)).total
    )
    suggestions = await roles_stub.ListSuggestions(
        job_service_pb2.ListSuggestionsRequest(parent="jobs/-"), metadata=sam
    )
    assert suggestions.suggestions
    assert all(s.target.startswith("staging-") for s in suggestions.suggestions)
    trail = await roles_stub.ListAuditRecords(
        job_service_pb2.ListAuditRecordsRequest(), metadata=sam
    )
    assert trail.audit_records
    assert all(r.target.startswith("staging-") for r in trail.audit_records)
    # Records about no target at all are for admins of every target.
    viewer_trail = await roles_stub.ListAuditRecords(
        job_service_pb2.ListAuditRecordsRequest(), metadata=people["vic"]
    )
    assert all(r.target for r in viewer_trail.audit_records)
    admin_trail = await roles_stub.ListAuditRecords(
        job_service_pb2.ListAuditRecordsRequest(), metadata=dana
    )
    assert any(not r.target for r in admin_trail.audit_records)
    targets = await roles_stub.ListTargets(job_service_pb2.ListTargetsRequest(), metadata=sam)
    assert [t.name for t in targets.targets] == ["staging-1"]
    all_targets = await roles_stub.ListTargets(
        job_service_pb2.ListTargetsRequest(), metadata=people["vic"]
    )
    assert [t.name for t in all_targets.targets] == ["prod", "staging-1", "staging_x"]


async def test_the_approver_cannot_apply_on_a_two_person_target(roles_stub, people, seed):
    otto, rita = people["otto"], people["rita"]
    job = await _job(roles_stub, otto, "prod-eu")
    s = await seed(job.name, target="prod-eu")
    name = f"{job.name}/suggestions/{s.id}"
    await roles_stub.ApproveSuggestion(
        job_service_pb2.ApproveSuggestionRequest(name=name), metadata=otto
    )
    apply = job_service_pb2.CreateJobRequest(
        job={"target": "prod-eu", "kind": Job.APPLY, "suggestion": name}
    )
    code, reason, meta, message = await _refused(roles_stub.CreateJob(apply, metadata=otto))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "TWO_PERSON_RULE")
    assert meta["approver"] == "Otto" and "Otto" in message
    # An edit sends it back to PENDING and forgets the approver; a new approval counts.
    sql = "CREATE INDEX CONCURRENTLY orders_customer_idx ON public.orders (customer_id, id)"
    await roles_stub.UpdateSuggestion(
        job_service_pb2.UpdateSuggestionRequest(suggestion={"name": name, "edited_sql": sql}),
        metadata=rita,
    )
    await roles_stub.ApproveSuggestion(
        job_service_pb2.ApproveSuggestionRequest(name=name), metadata=rita
    )
    applied = await roles_stub.CreateJob(apply, metadata=otto)
    assert applied.kind == Job.APPLY and applied.creator == "Otto"


async def test_someone_else_applies_on_a_two_person_target_and_anyone_elsewhere(
    roles_stub, people, seed
):
    otto, olga = people["otto"], people["olga"]
    for target, applier in (("prod", olga), ("staging-9", otto)):
        job = await _job(roles_stub, otto, target)
        s = await seed(job.name, target=target)
        name = f"{job.name}/suggestions/{s.id}"
        await roles_stub.ApproveSuggestion(
            job_service_pb2.ApproveSuggestionRequest(name=name), metadata=otto
        )
        applied = await roles_stub.CreateJob(
            job_service_pb2.CreateJobRequest(
                job={"target": target, "kind": Job.APPLY, "suggestion": name}
            ),
            metadata=applier,
        )
        assert applied.state == Job.PENDING


async def test_get_caller_describes_the_caller(roles_stub, people):
    caller = await roles_stub.GetCaller(access_pb2.GetCallerRequest(), metadata=people["sam"])
    assert (caller.subject, caller.display_name) == ("sam", "Sam")
    assert caller.auth_method == access_pb2.OIDC and not caller.local_mode
    assert [(b.role, b.targets) for b in caller.role_bindings] == [
        (access_pb2.OPERATOR, "staging-*")
    ]
    assert list(caller.two_person_targets) == ["prod*"]


async def test_a_target_summary_the_caller_cannot_view_answers_as_an_unknown_target(
    roles_stub, people
):
    sam, otto = people["sam"], people["otto"]
    await _job(roles_stub, otto, "prod")

    def summary(name: str, who):
        return roles_stub.GetTargetSummary(
            job_service_pb2.GetTargetSummaryRequest(name=name), metadata=who
        )

    code, reason, meta, message = await _refused(summary("targets/prod", sam))
    unknown = await _refused(summary("targets/nowhere", sam))
    assert code == grpc.StatusCode.NOT_FOUND and reason == "TARGET_NOT_FOUND"
    assert (code, reason, message.replace("prod", "nowhere")) == (
        unknown[0],
        unknown[1],
        unknown[3],
    )
    assert meta == {"resource": "targets/prod"}
    # Someone who may view prod gets its page, and sam the staging target's: only their own.
    got = await summary("targets/prod", otto)
    assert got.target == "prod" and got.analyses[0].target == "prod"
    assert {j.target for j in got.analyses} == {"prod"}
    staging = await summary("targets/staging-1", sam)
    assert staging.info.name == "staging-1"
    assert {j.target for j in staging.analyses} <= {"staging-1"}
    assert {s.target for s in staging.open_suggestions} <= {"staging-1"}
    # `staging-*` is not a LIKE pattern: staging_x (known to the optimizer) stays hidden.
    code, reason, *_ = await _refused(summary("targets/staging_x", sam))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "TARGET_NOT_FOUND")
    # A caller without any role is refused before any lookup.
    code, *_ = await _refused(summary("targets/prod", people["nobody"]))
    assert code == grpc.StatusCode.PERMISSION_DENIED
