"""HTTP requests to protobuf requests and protobuf responses to JSON (the protobuf JSON mapping).

A request message is built from three sources, as google/api/http.proto describes: the path
variables, the body (the whole request for `body: "*"`, one field otherwise) and, for every
field neither of them binds, the query string (`?pageSize=10&filter=state%20%3D%20RUNNING`).
Field names are accepted in lowerCamelCase and in snake_case; responses use lowerCamelCase.
Anything malformed becomes INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TypeAlias

from google.protobuf import descriptor, json_format, message, message_factory

from gateway.routes import Route
from pgsage import errors

FD: TypeAlias = descriptor.FieldDescriptor
_INTEGER_TYPES = {
    FD.TYPE_INT32,
    FD.TYPE_INT64,
    FD.TYPE_UINT32,
    FD.TYPE_UINT64,
    FD.TYPE_SINT32,
    FD.TYPE_SINT64,
    FD.TYPE_FIXED32,
    FD.TYPE_FIXED64,
    FD.TYPE_SFIXED32,
    FD.TYPE_SFIXED64,
}
_FLOAT_TYPES = {FD.TYPE_DOUBLE, FD.TYPE_FLOAT}
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_RANGES = {
    **dict.fromkeys((FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32), _INT32),
    **dict.fromkeys((FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64), _INT64),
    **dict.fromkeys((FD.TYPE_UINT32, FD.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((FD.TYPE_UINT64, FD.TYPE_FIXED64), (0, 2**64 - 1)),
}
# Well-known types whose JSON form is a string, so a query parameter can carry them.
_STRING_MESSAGES = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
}
_MAX_BODY_BYTES = 1_000_000


def _field(msg_desc: descriptor.Descriptor, name: str) -> FD | None:
    found = msg_desc.fields_by_name.get(name)
    if found is not None:
        return found
    for candidate in msg_desc.fields:
        if candidate.json_name == name:
            return candidate
    return None


def _parse_error(exc: Exception, default_field: str, prefix: str = "") -> errors.InvalidArgument:
    """INVALID_ARGUMENT for a json_format error, naming the field it is about."""
    if not isinstance(exc, json_format.ParseError):
        return errors.InvalidArgument(
            default_field,
            f"{default_field} does not have the shape of the request's JSON",
            reason="MALFORMED_REQUEST",
        )
    text = str(exc).split("\n", 1)[0].strip()
    # "Failed to parse options field: Failed to parse maxIndexes field: ..." → options.maxIndexes
    path = re.findall(r"Failed to parse (\w+) field", text)
    unknown = re.search(r'has no field named "([^"]+)"', text)
    if unknown:
        path.append(unknown.group(1))
    field = prefix + ".".join(path) if path else default_field
    return errors.InvalidArgument(field, f"invalid value: {text}", reason="MALFORMED_REQUEST")


def _query_value(field: FD, key: str, raw: str) -> object:
    """One query-string value in the shape the JSON mapping expects for `field`."""
    if field.type == FD.TYPE_BOOL:
        lowered = raw.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise errors.InvalidArgument(key, f"{key} must be true or false, not {raw!r}")
    if field.type in _FLOAT_TYPES:
        try:
            return float(raw)
        except ValueError:
            raise errors.InvalidArgument(key, f"{key} must be a number, not {raw!r}") from None
    if field.type in _INTEGER_TYPES:
        low, high = _RANGES[field.type]
        if not re.fullmatch(r"-?\d{1,20}", raw) or not low <= int(raw) <= high:
            raise errors.InvalidArgument(
                key, f"{key} must be an integer from {low} to {high}, not {raw!r}"
            )
        return raw
    if field.type == FD.TYPE_MESSAGE and field.message_type.full_name not in _STRING_MESSAGES:
        raise errors.InvalidArgument(key, f"{key} cannot be set in the query string")
    return raw


def query_to_dict(
    route: Route, msg_desc: descriptor.Descriptor, items: Iterable[tuple[str, str]]
) -> dict:
    """The query string as a JSON-mapping dict of the request (unbound fields only)."""
    result: dict = {}
    for key, raw in items:
        parts = key.split(".")
        target, desc = result, msg_desc
        for depth, part in enumerate(parts):
            field = _field(desc, part) if desc is not None else None
            if field is None:
                raise errors.InvalidArgument(
                    key, f"unknown query parameter {key!r}", reason="UNKNOWN_FIELD"
                )
            if depth == 0 and field.name in route.bound_fields:
                raise errors.InvalidArgument(
                    key, f"{key} is set by the path or body, not the query string"
                )
            if depth < len(parts) - 1:
                if field.type != FD.TYPE_MESSAGE or field.is_repeated:
                    raise errors.InvalidArgument(key, f"{part} has no fields")
                target = target.setdefault(field.name, {})
                desc = field.message_type
                continue
            value = _query_value(field, key, raw)
            if field.is_repeated:
                target.setdefault(field.name, []).append(value)
            elif field.name in target:
                raise errors.InvalidArgument(key, f"{key} is given more than once")
            else:
                target[field.name] = value
    return result


def _body(raw: bytes) -> dict:
    if len(raw) > _MAX_BODY_BYTES:
        raise errors.InvalidArgument("body", "the request body is larger than 1 MB")
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise errors.InvalidArgument(
            "body", f"the body is not valid JSON: {exc}", reason="MALFORMED_JSON"
        ) from None
    if not isinstance(value, dict):
        raise errors.InvalidArgument("body", "the body must be a JSON object")
    return value


def _set_path(request: message.Message, field_path: str, value: str) -> None:
    parts = field_path.split(".")
    target = request
    for part in parts[:-1]:
        target = getattr(target, part)
    setattr(target, parts[-1], value)


def build_request(
    route: Route,
    path_values: dict[str, str],
    query: Iterable[tuple[str, str]],
    body: bytes,
) -> message.Message:
    """The request message of `route` for one HTTP request."""
    request_class = _request_class(route)
    request = request_class()
    desc = route.method.input_type
    fields = query_to_dict(route, desc, query)
    try:
        json_format.ParseDict(fields, request)
    except Exception as exc:  # json_format raises more than ParseError on odd input
        raise _parse_error(exc, "query") from None
    if route.body:
        parsed = _body(body)
        target = request if route.body == "*" else getattr(request, route.body)
        try:
            json_format.ParseDict(parsed, target)
        except Exception as exc:  # json_format raises more than ParseError on odd input
            if route.body == "*":
                raise _parse_error(exc, "body") from None
            raise _parse_error(exc, route.body, prefix=f"{route.body}.") from None
    elif body.strip():
        raise errors.InvalidArgument("body", f"{route.http_method} {route.template} takes no body")
    for field_path, value in path_values.items():
        _set_path(request, field_path, value)
    _reject_nul(request, "")
    return request


def _reject_nul(msg: message.Message, prefix: str) -> None:
    """PostgreSQL text cannot hold U+0000, and no pgsage field needs it: refuse it here."""
    for field, value in msg.ListFields():
        name = prefix + field.json_name
        values = value if field.is_repeated else [value]
        if field.type == FD.TYPE_STRING:
            for text in values:
                if "\x00" in text:
                    raise errors.InvalidArgument(name, f"{name} contains a NUL character")
        elif field.type == FD.TYPE_MESSAGE and not (field.message_type.GetOptions().map_entry):
            for item in values:
                _reject_nul(item, name + ".")


_CLASSES: dict[str, type[message.Message]] = {}


def _request_class(route: Route) -> type[message.Message]:
    name = route.method.input_type.full_name
    if name not in _CLASSES:
        _CLASSES[name] = message_factory.GetMessageClass(route.method.input_type)
    return _CLASSES[name]


def to_json(response: message.Message) -> dict:
    """`response` in the protobuf JSON mapping (lowerCamelCase, enums by name)."""
    return json_format.MessageToDict(response)
