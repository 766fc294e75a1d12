import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pgsage.jobs.v1 import access_pb2 as _access_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditRecord(_message.Message):
    __slots__ = ("name", "time", "actor", "authenticated", "action", "resource", "job", "target", "statement", "outcome", "detail", "from_state", "to_state", "on_behalf_of", "actor_subject", "actor_auth_method", "digest")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATED_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    ON_BEHALF_OF_FIELD_NUMBER: _ClassVar[int]
    ACTOR_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_AUTH_METHOD_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    name: str
    time: _timestamp_pb2.Timestamp
    actor: str
    authenticated: bool
    action: str
    resource: str
    job: str
    target: str
    statement: str
    outcome: str
    detail: str
    from_state: str
    to_state: str
    on_behalf_of: str
    actor_subject: str
    actor_auth_method: _access_pb2.AuthMethod
    digest: str
    def __init__(self, name: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., authenticated: _Optional[bool] = ..., action: _Optional[str] = ..., resource: _Optional[str] = ..., job: _Optional[str] = ..., target: _Optional[str] = ..., statement: _Optional[str] = ..., outcome: _Optional[str] = ..., detail: _Optional[str] = ..., from_state: _Optional[str] = ..., to_state: _Optional[str] = ..., on_behalf_of: _Optional[str] = ..., actor_subject: _Optional[str] = ..., actor_auth_method: _Optional[_Union[_access_pb2.AuthMethod, str]] = ..., digest: _Optional[str] = ...) -> None: ...
