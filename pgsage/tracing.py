"""OpenTelemetry tracing of the services: off by default, on with the standard `OTEL_*` variables.

Tracing starts when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`, or a
comma-separated list of them; `none` or unset leaves it off) and `OTEL_SDK_DISABLED` is not
`true`. Everything else is the SDK's own reading of the standard variables:
`OTEL_SERVICE_NAME` (default `pgsage-<service>`), `OTEL_RESOURCE_ATTRIBUTES`,
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_TRACES_SAMPLER`,
`OTEL_BSP_*`.

When on, every gRPC server (`pgsage.server.build_server`) and every client channel of the
services (the job service's to the optimizer, the gateway's to the job service) carries the
trace in the call's metadata (W3C `traceparent`), so one trace goes from the gateway through
the job service to the optimizer; a job's run and an analysis's phases are spans of their own
(`span`), and JSON log lines name the `trace_id` and `span_id` of the span they were written in
(`pgsage.logs`). When off, no SDK is loaded, the interceptor lists are empty and `span` is
the API's no-op. Health checks and reflection are left out (probes would bury real work).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from opentelemetry import trace

log = logging.getLogger(__name__)

EXPORTER_VARIABLE = "OTEL_TRACES_EXPORTER"
EXPORTERS = ("otlp", "console")
_TRACER = "pgsage"
_state: dict[str, bool] = {"on": False}


class SettingsError(ValueError):
    """An `OTEL_*` value pgsage cannot act on (said in one line, naming the variable)."""


def exporters(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The exporters `OTEL_TRACES_EXPORTER` names (none when tracing is off)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    names = [n.strip().lower() for n in env.get(EXPORTER_VARIABLE, "").split(",") if n.strip()]
    names = [n for n in names if n != "none"]
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise SettingsError(
            f"{EXPORTER_VARIABLE} names an unknown exporter {unknown[0]!r} "
            f"(one or more of {', '.join(EXPORTERS)}, or none)"
        )
    return tuple(dict.fromkeys(names))


def configure(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Starts tracing for `service` when the `OTEL_*` variables ask for it; True if on.

    Spans are flushed when the process exits. Raises `SettingsError` for an unknown exporter.
    """
    names = exporters(environ)
    if not names:
        return False
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    env = os.environ if environ is None else environ
    name = env.get("OTEL_SERVICE_NAME", "").strip() or f"pgsage-{service}"
    resource = Resource.create({"service.name": name}).merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    for exporter in names:
        if exporter == "console":
            # One JSON object per span, on one line of stdout, as soon as the span ends.
            console = ConsoleSpanExporter(formatter=lambda span: span.to_json(None) + "\n")
            provider.add_span_processor(SimpleSpanProcessor(console))
        else:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)
    _state["on"] = True
    log.info("tracing on: %s exporter(s), service %s", ", ".join(names), name)
    return True


def enabled() -> bool:
    """Whether `configure` turned tracing on in this process."""
    return _state["on"]


def _not_probes() -> Any:
    """A filter leaving health checks and reflection out: probes every few seconds would
    bury the traces of real work."""
    from opentelemetry.instrumentation.grpc import filters

    return filters.negate(
        filters.any_of(
            filters.service_prefix("grpc.health."), filters.service_prefix("grpc.reflection.")
        )
    )


def server_interceptors() -> list[Any]:
    """The gRPC aio server interceptors that continue the caller's trace (none when off)."""
    if not enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor(filter_=_not_probes())]


def client_interceptors() -> list[Any]:
    """The gRPC aio client interceptors that send the current trace along (none when off)."""
    if not enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return list(aio_client_interceptors(filter_=_not_probes()))


@contextlib.contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[None]:
    """A span named `name` around the block (the current span's child); a no-op when off."""
    with trace.get_tracer(_TRACER).start_as_current_span(name, attributes=attributes):
        yield


@contextlib.contextmanager
def http_request(
    method: str, route: str, headers: Iterable[tuple[bytes, bytes]]
) -> Iterator[Callable[[int], None]]:
    """A server span for an HTTP request (the gateway's), continuing the trace its
    `traceparent` header names; yields a function to record the response status. A no-op
    when off, or when `route` is empty."""
    if not enabled() or not route:
        yield lambda status: None
        return
    from opentelemetry.propagate import extract

    carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in headers}
    with trace.get_tracer(_TRACER).start_as_current_span(
        f"{method} {route}",
        context=extract(carrier),
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    ) as current:

        def status(code: int) -> None:
            current.set_attribute("http.response.status_code", code)
            if code >= 500:
                current.set_status(trace.StatusCode.ERROR)

        yield status


def current_ids() -> dict[str, str]:
    """`trace_id` and `span_id` (hex) of the span being recorded here, if any."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }
