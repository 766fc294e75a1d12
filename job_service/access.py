"""The access RPCs of `pgsage.jobs.v1.JobService`: GetCaller and the API token lifecycle.

A mixin of `servicer.JobServicer` (which provides `_db` and `_policy`). Tokens are managed by
admins of every target; the secret of a new token is in the CreateApiToken response only.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2

from job_service import authz, database, errors, notifications, pagination, tokens
from job_service.principals import Principal, Role, RoleBinding
from pgsage.jobs.v1 import access_pb2

log = logging.getLogger(__name__)

MAX_DISPLAY_NAME = 100
MAX_BINDINGS = 100
MAX_LIFETIME = timedelta(days=366)


class AccessHandlers:
    _db: database.Database
    _listener: notifications.Listener
    _policy: authz.Policy

    async def GetCaller(
        self, request: access_pb2.GetCallerRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.Caller:
        caller = authz.principal_of(context)
        return access_pb2.Caller(
            subject=caller.subject,
            display_name=caller.display_name,
            auth_method=access_pb2.AuthMethod.Value(caller.method.value),
            local_mode=self._policy.local_mode,
            role_bindings=[_binding_to_proto(b) for b in caller.bindings],
            two_person_targets=list(self._policy.two_person_targets),
        )

    async def CreateApiToken(
        self, request: access_pb2.CreateApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.CreateApiTokenResponse:
        caller = _admin(context, "apiTokens.create")
        if not request.HasField("api_token"):
            raise errors.MissingField("api_token")
        given = request.api_token
        display_name = given.display_name.strip()
        if not display_name:
            raise errors.MissingField("api_token.display_name")
        if len(display_name) > MAX_DISPLAY_NAME or not display_name.isprintable():
            raise errors.InvalidField(
                "api_token.display_name",
                f"api_token.display_name is up to {MAX_DISPLAY_NAME} printable characters",
            )
        bindings = _bindings_from_proto(given.role_bindings)
        expire_time = _expire_time(given)
        async with self._db.connection() as conn:
            token, secret = await tokens.create(
                conn,
                display_name=display_name,
                role_bindings=bindings,
                creator=caller.display_name,
                expire_time=expire_time,
            )
        log.info("API token %s (%s) created by %s", token.name, display_name, caller.subject)
        return access_pb2.CreateApiTokenResponse(api_token=_token_to_proto(token), secret=secret)

    async def ListApiTokens(
        self, request: access_pb2.ListApiTokensRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ListApiTokensResponse:
        _admin(context, "apiTokens.list")
        size = pagination.page_size(request.page_size)
        digest = "inactive" if request.show_inactive else "active"
        position = pagination.decode(request.page_token, digest)
        async with self._db.connection() as conn:
            page = await tokens.list_page(conn, position, size, show_inactive=request.show_inactive)
        return access_pb2.ListApiTokensResponse(
            api_tokens=[_token_to_proto(t) for t in page.items],
            next_page_token=(
                pagination.encode(page.next_position, digest) if page.next_position else ""
            ),
        )

    async def RevokeApiToken(
        self, request: access_pb2.RevokeApiTokenRequest, context: grpc.aio.ServicerContext
    ) -> access_pb2.ApiToken:
        caller = _admin(context, "apiTokens.revoke")
        token_id = tokens.parse_name(request.name)
        async with self._db.connection() as conn:
            token = await tokens.revoke(conn, token_id)
        self._listener.token_revoked(str(token.id))
        log.info("API token %s revoked by %s", token.name, caller.subject)
        return _token_to_proto(token)


def _admin(context: grpc.aio.ServicerContext, permission: str) -> Principal:
    caller = authz.principal_of(context)
    authz.require_any(caller)
    authz.require(caller, Role.ADMIN, None, permission=permission)
    return caller


def _bindings_from_proto(given: object) -> tuple[RoleBinding, ...]:
    items = list(given)  # type: ignore[call-overload]
    if not items:
        raise errors.MissingField("api_token.role_bindings")
    if len(items) > MAX_BINDINGS:
        raise errors.InvalidField(
            "api_token.role_bindings", f"at most {MAX_BINDINGS} role bindings"
        )
    bindings = []
    for i, item in enumerate(items):
        field = f"api_token.role_bindings[{i}]"
        if item.role not in (r.value for r in Role):
            raise errors.InvalidField(f"{field}.role", f"{field}.role must be a role")
        targets = item.targets.strip() or "*"
        if len(targets) > 200 or not targets.isprintable():
            raise errors.InvalidField(
                f"{field}.targets", f"{field}.targets is a pattern of up to 200 characters"
            )
        bindings.append(RoleBinding(Role(item.role), targets))
    return tuple(dict.fromkeys(bindings))


def _expire_time(given: access_pb2.ApiToken) -> datetime:
    if not given.HasField("expire_time"):
        raise errors.MissingField("api_token.expire_time")
    try:
        expire_time = given.expire_time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise errors.InvalidField("api_token.expire_time", "not a valid time") from None
    now = datetime.now(UTC)
    if expire_time <= now:
        raise errors.InvalidField("api_token.expire_time", "api_token.expire_time is past")
    if expire_time > now + MAX_LIFETIME:
        raise errors.InvalidField(
            "api_token.expire_time", "api_token.expire_time is at most a year ahead"
        )
    return expire_time


def _binding_to_proto(binding: RoleBinding) -> access_pb2.RoleBinding:
    return access_pb2.RoleBinding(
        role=access_pb2.Role.Name(int(binding.role)), targets=binding.targets
    )


def _ts(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def _token_to_proto(token: tokens.ApiToken) -> access_pb2.ApiToken:
    message = access_pb2.ApiToken(
        name=token.name,
        display_name=token.display_name,
        role_bindings=[_binding_to_proto(b) for b in token.role_bindings],
        expire_time=_ts(token.expire_time),
        create_time=_ts(token.create_time),
        creator=token.creator,
    )
    if token.revoke_time is not None:
        message.revoke_time.CopyFrom(_ts(token.revoke_time))
    if token.last_use_time is not None:
        message.last_use_time.CopyFrom(_ts(token.last_use_time))
    return message
