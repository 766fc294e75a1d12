"""Domain errors become google.rpc.Status with ErrorInfo, capped and secret-free."""

from __future__ import annotations

import grpc
from google.rpc import code_pb2

from pgsage import errors


def test_invalid_argument_names_the_field():
    status = errors.InvalidArgument(
        "page_size", "must be between 0 and 1000", reason="INVALID_PAGE_SIZE"
    ).to_status()
    assert status.code == code_pb2.INVALID_ARGUMENT
    reason, metadata = errors.from_status(status)
    assert reason == "INVALID_PAGE_SIZE"
    assert metadata == {"field": "page_size"}


def test_metadata_values_are_capped():
    error = errors.NotFound("no such job", reason="JOB_NOT_FOUND", metadata={"name": "x" * 5000})
    _, metadata = errors.from_status(error.to_status())
    assert len(metadata["name"]) == errors.MAX_VALUE_LENGTH
    assert metadata["name"].endswith("…")


def test_each_error_class_maps_to_its_code():
    assert errors.FailedPrecondition("x").code == grpc.StatusCode.FAILED_PRECONDITION
    assert errors.Aborted("x").code == grpc.StatusCode.ABORTED
    assert errors.Unavailable("x").code == grpc.StatusCode.UNAVAILABLE
    assert errors.Unavailable("x").to_status().code == code_pb2.UNAVAILABLE


def test_nul_characters_are_found_with_their_field_path():
    from pgsage import rpc
    from pgsage.jobs.v1 import job_pb2, job_service_pb2

    clean = job_service_pb2.CreateJobRequest(job=job_pb2.Job(target="demo", queries=["SELECT 1"]))
    assert rpc.nul_field(clean) is None
    nested = job_service_pb2.CreateJobRequest(
        job=job_pb2.Job(target="demo", queries=["SELECT 1", "SELECT \x00"])
    )
    assert rpc.nul_field(nested) == "job.queries"
    top = job_service_pb2.DismissSuggestionRequest(name="jobs/x", reason="no\x00pe")
    assert rpc.nul_field(top) == "reason"
