"""Tracing is off unless `OTEL_TRACES_EXPORTER` names an exporter, and a name pgsage cannot
honour stops a service at start-up in one line naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pgsage import tracing

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ()),
        ({"OTEL_TRACES_EXPORTER": "none"}, ()),
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "otlp, console,otlp"}, ("otlp", "console")),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, ()),
    ],
)
def test_the_exporters_come_from_the_standard_variables(environ, expected):
    assert tracing.exporters(environ) == expected


def test_off_by_default_no_interceptor_and_no_ids():
    assert not tracing.enabled()
    assert tracing.server_interceptors() == [] and tracing.client_interceptors() == []
    with tracing.span("job.run"):
        assert tracing.current_ids() == {}


def test_an_unknown_exporter_stops_start_up_in_one_line_naming_the_variable():
    env = {"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "zipkin"}
    done = subprocess.run(
        [sys.executable, "-m", "optimizer_service"],
        env={**env, "PGSAGE_OPTIMIZER_GRPC_PORT": "0"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "cannot start" in line]
    assert len(errors) == 1 and "OTEL_TRACES_EXPORTER" in errors[0] and "zipkin" in errors[0]
    assert "Traceback" not in done.stderr
