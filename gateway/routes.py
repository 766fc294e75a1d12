"""REST routes derived from the `google.api.http` annotations of the job service's protos.

This is the one place that reads the annotations: every annotated, non-streaming RPC of
`pgsage.jobs.v1.JobService` (and of the job service's other services, `SERVICES`) becomes a
`Route` (HTTP method, path template, body binding). The
transcoder binds requests with it and the OpenAPI document is written from it, so adding an
annotated RPC to the proto adds its route and its documentation.

Path templates follow google/api/http.proto: `/v1/{name=jobs/*}:cancel` binds the request
field `name` to `jobs/<one segment>`; `*` is one segment, `**` any number of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from google.api import annotations_pb2
from google.protobuf import descriptor

from pgsage.jobs.v1 import job_service_pb2, schedule_pb2, webhook_pb2

SERVICE = job_service_pb2.DESCRIPTOR.services_by_name["JobService"]
# Every service the job service serves over REST, in the order their routes are matched.
SERVICES = [
    SERVICE,
    webhook_pb2.DESCRIPTOR.services_by_name["WebhookService"],
    schedule_pb2.DESCRIPTOR.services_by_name["ScheduleService"],
]

_VARIABLE = re.compile(r"\{([a-zA-Z0-9_.]+)(?:=([^}]+))?\}")


@dataclass(frozen=True)
class Variable:
    """A path variable: the request field it sets and the sub-template of its value."""

    field_path: str
    template: str  # such as `jobs/*`


@dataclass(frozen=True)
class Route:
    """One RPC as a REST route."""

    method: descriptor.MethodDescriptor
    http_method: str  # GET, POST, PATCH, DELETE, PUT
    template: str  # `/v1/{name=jobs/*}:cancel`
    body: str  # "" (no body), "*" (the whole request), or a field name of the request
    variables: tuple[Variable, ...]
    pattern: re.Pattern[str] = field(compare=False)

    @property
    def rpc(self) -> str:
        return self.method.name

    @property
    def service(self) -> str:
        """The short name of the RPC's service (`JobService`, `ScheduleService`)."""
        return self.method.containing_service.name

    @property
    def bound_fields(self) -> frozenset[str]:
        """Top-level request fields set by the path or the body."""
        names = {v.field_path.split(".")[0] for v in self.variables}
        if self.body:
            names.add(self.body)
        return frozenset(names)

    def match(self, path: str) -> dict[str, str] | None:
        """The path variables of `path` (field path → value), or None when it does not match."""
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {v.field_path: found.group(f"v{i}") for i, v in enumerate(self.variables)}


def _segment_regex(template: str) -> str:
    """Regex of a template's literal and wildcard segments (`*` never crosses `/` or `:`)."""
    parts = []
    for segment in template.split("/"):
        if segment == "**":
            parts.append(r"[^:]+")
        elif segment == "*":
            parts.append(r"[^/:]+")
        else:
            parts.append(re.escape(segment))
    return "/".join(parts)


def _compile(template: str) -> tuple[tuple[Variable, ...], re.Pattern[str]]:
    variables: list[Variable] = []
    regex: list[str] = []
    position = 0
    for found in _VARIABLE.finditer(template):
        regex.append(_segment_regex(template[position : found.start()]))
        sub = found.group(2) or "*"
        regex.append(f"(?P<v{len(variables)}>{_segment_regex(sub)})")
        variables.append(Variable(found.group(1), sub))
        position = found.end()
    regex.append(_segment_regex(template[position:]))
    return tuple(variables), re.compile("".join(regex))


def _route(method: descriptor.MethodDescriptor) -> Route | None:
    if method.server_streaming or method.client_streaming:
        return None
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    rule = options.Extensions[annotations_pb2.http]
    kind = rule.WhichOneof("pattern")
    if kind is None or kind == "custom":
        return None
    template = getattr(rule, kind)
    variables, pattern = _compile(template)
    return Route(
        method=method,
        http_method=kind.upper(),
        template=template,
        body=rule.body,
        variables=variables,
        pattern=pattern,
    )


def derive(service: descriptor.ServiceDescriptor = SERVICE) -> list[Route]:
    """Every REST route of `service`, in the order its RPCs are declared."""
    return [r for r in (_route(m) for m in service.methods) if r is not None]


ROUTES: list[Route] = [route for service in SERVICES for route in derive(service)]


def find(http_method: str, path: str) -> tuple[Route, dict[str, str]] | tuple[None, bool]:
    """The route serving `http_method path` and its variables.

    When none does, returns `(None, path_known)`: whether some route has this path with another
    method (405 rather than 404).
    """
    path_known = False
    for route in ROUTES:
        values = route.match(path)
        if values is None:
            continue
        if route.http_method == http_method:
            return route, values
        path_known = True
    return None, path_known
