"""The application_name of the optimizer's session at work names the job it works for."""

from __future__ import annotations

import contextvars
import uuid

from optimizer_service import targets, trail


def named(metadata: tuple[tuple[str, str], ...]) -> str:
    def inside() -> str:
        trail.enter("Analyze", metadata)
        return targets.working_name()

    return contextvars.copy_context().run(inside)


def test_a_job_call_names_the_job_and_fits_in_application_name():
    job = str(uuid.uuid4())
    name = named(((trail.JOB_METADATA, job),))
    assert name == f"pgsage-optimizer jobs/{job}"
    assert len(name.encode()) <= 63
    assert named(((trail.JOB_METADATA, f"jobs/{job}"),)) == name


def test_a_call_without_a_job_or_with_a_forged_one_is_plain():
    assert named(()) == "pgsage-optimizer"
    assert named(((trail.JOB_METADATA, "x'; DROP TABLE t; --"),)) == "pgsage-optimizer"
    assert contextvars.copy_context().run(targets.working_name) == "pgsage-optimizer"
