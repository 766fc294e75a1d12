import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    IMPROVED: _ClassVar[Verdict]
    NO_EFFECT: _ClassVar[Verdict]
    REGRESSED: _ClassVar[Verdict]
    INCONCLUSIVE: _ClassVar[Verdict]
VERDICT_UNSPECIFIED: Verdict
IMPROVED: Verdict
NO_EFFECT: Verdict
REGRESSED: Verdict
INCONCLUSIVE: Verdict

class Verification(_message.Message):
    __slots__ = ("job", "verdict", "reason", "apply_time", "end_time", "queries", "index", "table", "time_saved_ms", "time_saved_percent", "alpha", "min_change_percent", "min_calls", "policy_action", "rollback_job", "create_time")
    JOB_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    APPLY_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    TIME_SAVED_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_SAVED_PERCENT_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    MIN_CHANGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MIN_CALLS_FIELD_NUMBER: _ClassVar[int]
    POLICY_ACTION_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_JOB_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    job: str
    verdict: Verdict
    reason: str
    apply_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    queries: _containers.RepeatedCompositeFieldContainer[QueryVerification]
    index: IndexVerification
    table: TableVerification
    time_saved_ms: float
    time_saved_percent: float
    alpha: float
    min_change_percent: float
    min_calls: int
    policy_action: str
    rollback_job: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, job: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, str]] = ..., reason: _Optional[str] = ..., apply_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., queries: _Optional[_Iterable[_Union[QueryVerification, _Mapping]]] = ..., index: _Optional[_Union[IndexVerification, _Mapping]] = ..., table: _Optional[_Union[TableVerification, _Mapping]] = ..., time_saved_ms: _Optional[float] = ..., time_saved_percent: _Optional[float] = ..., alpha: _Optional[float] = ..., min_change_percent: _Optional[float] = ..., min_calls: _Optional[int] = ..., policy_action: _Optional[str] = ..., rollback_job: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class QueryWindow(_message.Message):
    __slots__ = ("start_time", "calls", "mean_ms", "stddev_ms", "total_ms", "shared_blks_hit_per_call", "shared_blks_read_per_call")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    STDDEV_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    SHARED_BLKS_HIT_PER_CALL_FIELD_NUMBER: _ClassVar[int]
    SHARED_BLKS_READ_PER_CALL_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    calls: int
    mean_ms: float
    stddev_ms: float
    total_ms: float
    shared_blks_hit_per_call: float
    shared_blks_read_per_call: float
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., calls: _Optional[int] = ..., mean_ms: _Optional[float] = ..., stddev_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., shared_blks_hit_per_call: _Optional[float] = ..., shared_blks_read_per_call: _Optional[float] = ...) -> None: ...

class QueryVerification(_message.Message):
    __slots__ = ("query_id", "text", "affected", "statement_kind", "before", "after", "change_percent", "p_value", "change", "note")
    class Change(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHANGE_UNSPECIFIED: _ClassVar[QueryVerification.Change]
        FASTER: _ClassVar[QueryVerification.Change]
        SLOWER: _ClassVar[QueryVerification.Change]
        UNCHANGED: _ClassVar[QueryVerification.Change]
        NOT_ENOUGH_EVIDENCE: _ClassVar[QueryVerification.Change]
    CHANGE_UNSPECIFIED: QueryVerification.Change
    FASTER: QueryVerification.Change
    SLOWER: QueryVerification.Change
    UNCHANGED: QueryVerification.Change
    NOT_ENOUGH_EVIDENCE: QueryVerification.Change
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    AFFECTED_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    CHANGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    text: str
    affected: bool
    statement_kind: str
    before: QueryWindow
    after: QueryWindow
    change_percent: float
    p_value: float
    change: QueryVerification.Change
    note: str
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., affected: _Optional[bool] = ..., statement_kind: _Optional[str] = ..., before: _Optional[_Union[QueryWindow, _Mapping]] = ..., after: _Optional[_Union[QueryWindow, _Mapping]] = ..., change_percent: _Optional[float] = ..., p_value: _Optional[float] = ..., change: _Optional[_Union[QueryVerification.Change, str]] = ..., note: _Optional[str] = ...) -> None: ...

class IndexVerification(_message.Message):
    __slots__ = ("name", "exists", "scans_since_apply", "size_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    SCANS_SINCE_APPLY_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    exists: bool
    scans_since_apply: int
    size_bytes: int
    def __init__(self, name: _Optional[str] = ..., exists: _Optional[bool] = ..., scans_since_apply: _Optional[int] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class TableVerification(_message.Message):
    __slots__ = ("name", "writes_per_second_before", "writes_per_second_after", "writes_since_apply", "write_overhead_ms", "write_overhead_percent", "hot_update_percent_before", "hot_update_percent_after")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WRITES_PER_SECOND_BEFORE_FIELD_NUMBER: _ClassVar[int]
    WRITES_PER_SECOND_AFTER_FIELD_NUMBER: _ClassVar[int]
    WRITES_SINCE_APPLY_FIELD_NUMBER: _ClassVar[int]
    WRITE_OVERHEAD_MS_FIELD_NUMBER: _ClassVar[int]
    WRITE_OVERHEAD_PERCENT_FIELD_NUMBER: _ClassVar[int]
    HOT_UPDATE_PERCENT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    HOT_UPDATE_PERCENT_AFTER_FIELD_NUMBER: _ClassVar[int]
    name: str
    writes_per_second_before: float
    writes_per_second_after: float
    writes_since_apply: int
    write_overhead_ms: float
    write_overhead_percent: float
    hot_update_percent_before: float
    hot_update_percent_after: float
    def __init__(self, name: _Optional[str] = ..., writes_per_second_before: _Optional[float] = ..., writes_per_second_after: _Optional[float] = ..., writes_since_apply: _Optional[int] = ..., write_overhead_ms: _Optional[float] = ..., write_overhead_percent: _Optional[float] = ..., hot_update_percent_before: _Optional[float] = ..., hot_update_percent_after: _Optional[float] = ...) -> None: ...

class WorkloadSnapshot(_message.Message):
    __slots__ = ("name", "target", "time", "reason", "suggestion", "job", "stats_reset", "statements", "calls", "total_exec_time_ms", "snapshot_statements")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUGGESTION_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    STATS_RESET_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    target: str
    time: _timestamp_pb2.Timestamp
    reason: str
    suggestion: str
    job: str
    stats_reset: _timestamp_pb2.Timestamp
    statements: int
    calls: int
    total_exec_time_ms: float
    snapshot_statements: _containers.RepeatedCompositeFieldContainer[SnapshotStatement]
    def __init__(self, name: _Optional[str] = ..., target: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., suggestion: _Optional[str] = ..., job: _Optional[str] = ..., stats_reset: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., statements: _Optional[int] = ..., calls: _Optional[int] = ..., total_exec_time_ms: _Optional[float] = ..., snapshot_statements: _Optional[_Iterable[_Union[SnapshotStatement, _Mapping]]] = ...) -> None: ...

class SnapshotStatement(_message.Message):
    __slots__ = ("query_id", "text", "calls", "total_exec_time_ms", "mean_exec_time_ms", "stddev_exec_time_ms", "shared_blks_hit", "shared_blks_read")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    STDDEV_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    SHARED_BLKS_HIT_FIELD_NUMBER: _ClassVar[int]
    SHARED_BLKS_READ_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    text: str
    calls: int
    total_exec_time_ms: float
    mean_exec_time_ms: float
    stddev_exec_time_ms: float
    shared_blks_hit: int
    shared_blks_read: int
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., calls: _Optional[int] = ..., total_exec_time_ms: _Optional[float] = ..., mean_exec_time_ms: _Optional[float] = ..., stddev_exec_time_ms: _Optional[float] = ..., shared_blks_hit: _Optional[int] = ..., shared_blks_read: _Optional[int] = ...) -> None: ...
