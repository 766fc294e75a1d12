"""The CLI's progress line: what a person watching a job reads."""

from __future__ import annotations

import io

from pgsage.cli.render import ProgressBar
from pgsage.jobs.v1.job_pb2 import Job


def _lines(*jobs: Job) -> list[str]:
    out = io.StringIO()
    bar = ProgressBar(out)
    for job in jobs:
        bar.update(job)
    bar.close()
    return out.getvalue().splitlines()


def test_a_change_job_that_reports_no_percent_ends_at_100_percent_succeeded():
    running = Job(state=Job.RUNNING, kind=Job.APPLY)
    running.progress.stage = "building"
    done = Job(state=Job.SUCCEEDED, kind=Job.APPLY)
    assert _lines(running, done) == ["  0.0% running building", "100.0% succeeded"]


def test_a_failed_job_keeps_the_percent_it_reached():
    failed = Job(state=Job.FAILED, kind=Job.ANALYZE)
    failed.progress.percent = 42.0
    assert _lines(failed) == [" 42.0% failed"]
