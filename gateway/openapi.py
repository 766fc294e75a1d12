"""The OpenAPI 3.0 document of the REST API, written from the same routes and descriptors.

Paths come from `gateway.routes.ROUTES` (a variable such as `{name=jobs/*}` becomes the
path parameter `{job}`); request and response schemas are the protobuf JSON mapping of the
messages, one component per message, named by full name. The hand-written routes (result,
events, patch, probes) are added at the end.

`google.api.field_behavior` says what is present: an IDENTIFIER field (a resource's name) is
`readOnly` and `required`, which OpenAPI reads as "always in a response, never sent"; a
REQUIRED field is `required`; an OUTPUT_ONLY field is `readOnly`. Any other field may be left
out, as the JSON mapping omits fields at their default value. The UI's TypeScript types are
generated from this document: `npm run gen:types` in gateway/ui runs `python -m gateway.openapi`
(the interpreter in $PYTHON, else .venv/bin/python) and openapi-typescript on its output.
"""

from __future__ import annotations

import json
import sys
from typing import TypeAlias

from google.api import field_behavior_pb2
from google.protobuf import descriptor

from gateway import routes

FD: TypeAlias = descriptor.FieldDescriptor

_SCALARS: dict[int, dict] = {
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    # 64-bit integers are strings in the JSON mapping (numbers are accepted too).
    FD.TYPE_INT64: {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"},
    FD.TYPE_SINT64: {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"},
    FD.TYPE_SFIXED64: {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"},
    FD.TYPE_UINT64: {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"},
    FD.TYPE_FIXED64: {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "format": "byte"},
}
_WELL_KNOWN: dict[str, dict] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": True,
    },
}

# Resource ids are UUIDs; anything else is answered with 400 INVALID_NAME.
_ID = {"type": "string", "format": "uuid"}

ERROR_SCHEMA = {
    "type": "object",
    "description": "AIP-193 error: `code` is the HTTP status, `status` the gRPC code name.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string"},
                "details": {"type": "array", "items": _WELL_KNOWN["google.protobuf.Any"]},
            },
            "required": ["code", "message", "status"],
        }
    },
    "required": ["error"],
}

_STATUS = {"type": "string", "enum": ["pass", "warn", "fail"]}
# The probes' `application/health+json` body (draft-inadarei-api-health-check).
HEALTH_SCHEMA = {
    "type": "object",
    "description": "`status` overall; `notes` the warnings; `checks` one entry per dependency.",
    "properties": {
        "status": _STATUS,
        "version": {"type": "string", "description": "the running pgsage (/healthz)"},
        "uptime_seconds": {"type": "integer", "minimum": 0, "description": "(/healthz)"},
        "output": {"type": "string"},
        "notes": {"type": "array", "items": {"type": "string"}},
        "checks": {
            "type": "object",
            "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "status": _STATUS,
                        "componentType": {"type": "string"},
                        "observedValue": {"type": "string"},
                        "output": {"type": "string"},
                        "time": {"type": "string", "format": "date-time"},
                    },
                    "required": ["status"],
                },
            },
        },
    },
    "required": ["status"],
}


class _Schemas:
    """Collects one JSON schema per message, following references."""

    def __init__(self) -> None:
        self.components: dict[str, dict] = {}

    def ref(self, message: descriptor.Descriptor, skip: frozenset[str] = frozenset()) -> dict:
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        if skip:
            return self._object(message, skip)
        if message.full_name not in self.components:
            self.components[message.full_name] = {}  # placeholder against recursion
            self.components[message.full_name] = self._object(message, skip)
        return {"$ref": f"#/components/schemas/{message.full_name}"}

    def _object(self, message: descriptor.Descriptor, skip: frozenset[str]) -> dict:
        properties: dict[str, dict] = {}
        required: list[str] = []
        for f in message.fields:
            if f.name in skip:
                continue
            schema = self.field(f)
            behavior = set(f.GetOptions().Extensions[field_behavior_pb2.field_behavior])
            if behavior & {field_behavior_pb2.IDENTIFIER, field_behavior_pb2.OUTPUT_ONLY}:
                # A `$ref` takes no siblings in OpenAPI 3.0, hence the `allOf` around it.
                schema = {"allOf": [schema]} if "$ref" in schema else schema
                schema["readOnly"] = True
            if behavior & {field_behavior_pb2.IDENTIFIER, field_behavior_pb2.REQUIRED}:
                required.append(f.json_name)
            properties[f.json_name] = schema
        result: dict = {"type": "object", "properties": properties}
        if required:
            result["required"] = required
        result["additionalProperties"] = False
        return result

    def field(self, field: FD) -> dict:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        schema = self.single(field)
        if field.is_repeated:
            return {"type": "array", "items": schema}
        return schema

    def single(self, field: FD) -> dict:
        if field.type == FD.TYPE_MESSAGE:
            return self.ref(field.message_type)
        if field.type == FD.TYPE_ENUM:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return dict(_SCALARS[field.type])


def _openapi_path(route: routes.Route) -> tuple[str, dict[str, tuple[str, str]]]:
    """`/v1/{name=jobs/*}:cancel` → `/v1/jobs/{job}:cancel`, with each parameter's
    (field path, segment prefix) so the document can say what it binds."""
    path = route.template
    params: dict[str, tuple[str, str]] = {}
    for variable in route.variables:
        segments = variable.template.split("/")
        rendered = []
        for i, segment in enumerate(segments):
            if segment in ("*", "**"):
                base = segments[i - 1] if i else variable.field_path.split(".")[-1]
                param = base[:-1] if base.endswith("s") else base
                params[param] = (variable.field_path, "/".join(segments[:i]))
                rendered.append(f"{{{param}}}")
            else:
                rendered.append(segment)
        original = "{" + variable.field_path + ("=" + variable.template) + "}"
        if original not in path:
            original = "{" + variable.field_path + "}"
        path = path.replace(original, "/".join(rendered))
    return path, params


def _query_parameters(
    schemas: _Schemas, message: descriptor.Descriptor, skip: frozenset[str], prefix: str = ""
) -> list[dict]:
    params = []
    for field in message.fields:
        if not prefix and field.name in skip:
            continue
        name = prefix + field.json_name
        if field.type == FD.TYPE_MESSAGE and field.message_type.full_name not in _WELL_KNOWN:
            if not field.is_repeated and len(prefix.split(".")) < 3:
                params.extend(_query_parameters(schemas, field.message_type, skip, name + "."))
            continue
        schema = schemas.field(field)
        param = {"name": name, "in": "query", "required": False, "schema": schema}
        if field.is_repeated:
            param.update(style="form", explode=True)
        params.append(param)
    return params


def _error_responses() -> dict:
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "400": {"description": "invalid argument or failed precondition", **error},
        "404": {"description": "not found", **error},
        "409": {"description": "conflict (etag mismatch, already exists)", **error},
        "503": {"description": "the job service or its database is unavailable", **error},
        "504": {"description": "the job service did not answer in time", **error},
        "default": {"description": "error", **error},
    }


def _operation(schemas: _Schemas, route: routes.Route) -> tuple[str, dict]:
    path, params = _openapi_path(route)
    request = route.method.input_type
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": f"sets `{field_path}` to `{prefix}/{{{name}}}` (a UUID"
            + (", or `-` for every job)" if field_path == "parent" else ")"),
            "schema": _ID,
        }
        for name, (field_path, prefix) in params.items()
    ]
    path_fields = frozenset(v.field_path.split(".")[0] for v in route.variables)
    operation: dict = {
        "operationId": route.rpc,
        "summary": route.rpc,
        "tags": [route.method.containing_service.name],
        "parameters": parameters,
        "responses": {
            "200": {
                "description": "OK",
                "content": {"application/json": {"schema": schemas.ref(route.method.output_type)}},
            },
            **_error_responses(),
        },
    }
    if route.body == "*":
        body_schema = schemas.ref(request, skip=path_fields)
    elif route.body:
        field = request.fields_by_name[route.body]
        nested_skip = frozenset(
            v.field_path.split(".", 1)[1] for v in route.variables if "." in v.field_path
        )
        body_schema = schemas.ref(field.message_type, skip=nested_skip)
    else:
        operation["parameters"] += _query_parameters(schemas, request, route.bound_fields)
        body_schema = None
    if body_schema is not None:
        operation["parameters"] += _query_parameters(schemas, request, route.bound_fields)
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body_schema}},
        }
    return path, operation


def _job_param() -> dict:
    return {"name": "job", "in": "path", "required": True, "schema": _ID}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _get(operation_id: str, summary: str, responses: dict, parameters: list) -> dict:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["Gateway"],
            "parameters": parameters,
            "responses": responses,
        }
    }


def _extra_paths(schemas: _Schemas) -> dict:
    methods = routes.SERVICE.methods_by_name
    job_ref = schemas.ref(methods["GetJob"].output_type)
    suggestions = {"type": "array", "items": schemas.ref(methods["GetSuggestion"].output_type)}
    watch_ref = schemas.ref(methods["WatchJob"].output_type)
    health = {"application/health+json": {"schema": {"$ref": "#/components/schemas/Health"}}}
    since = {
        "name": "sinceRevision",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
    finished = {"type": "object", "properties": {"job": job_ref, "suggestions": suggestions}}
    running = {"type": "object", "properties": {"job": job_ref}}
    events = {"text/event-stream": {"schema": {"type": "string"}, "x-event": watch_ref}}
    return {
        "/v1/jobs/{job}/result": _get(
            "GetJobResult",
            "The job and its suggestions once it is finished",
            {
                "200": {"description": "the job is finished", "content": _json(finished)},
                "202": {
                    "description": "not finished; ask again after Retry-After seconds",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": _json(running),
                },
                **_error_responses(),
            },
            [_job_param()],
        ),
        "/v1/jobs/{job}/events": _get(
            "WatchJobEvents",
            "The job's changes as Server-Sent Events (id = revision; resume: Last-Event-ID)",
            {
                "200": {"description": "`data:` lines of WatchJobResponse", "content": events},
                **_error_responses(),
            },
            [_job_param(), since],
        ),
        "/v1/jobs/{job}/patch.sql": _get(
            "GetJobPatch",
            "The job's approved suggestions as one SQL script",
            {
                "200": {
                    "description": "SQL script",
                    "content": {"application/sql": {"schema": {"type": "string"}}},
                },
                **_error_responses(),
            },
            [_job_param()],
        ),
        "/healthz": _get(
            "Liveness",
            "200 while the process answers",
            {"200": {"description": "alive", "content": health}},
            [],
        ),
        "/readyz": _get(
            "Readiness",
            "200 when the job service is serving (maybe with warnings), else 503 and why",
            {
                "200": {"description": "ready", "content": health},
                "503": {"description": "a dependency is down", "content": health},
            },
            [],
        ),
    }


def document() -> dict:
    """The whole OpenAPI document."""
    schemas = _Schemas()
    paths: dict[str, dict] = {}
    for route in routes.ROUTES:
        path, operation = _operation(schemas, route)
        paths.setdefault(path, {})[route.http_method.lower()] = operation
    paths.update(_extra_paths(schemas))
    schemas.components["Error"] = ERROR_SCHEMA
    schemas.components["Health"] = HEALTH_SCHEMA
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "pgsage REST API",
            "version": "v1",
            "description": "The job service's gRPC API (JobService, ScheduleService) over REST "
            "(google.api.http transcoding, "
            "protobuf JSON mapping), plus results, Server-Sent Events and patch download.",
        },
        "paths": paths,
        "components": {"schemas": schemas.components},
    }


if __name__ == "__main__":
    # The document as the gateway serves it, for the UI's type generator (no server needed).
    json.dump(document(), sys.stdout, indent=2)
    sys.stdout.write("\n")
