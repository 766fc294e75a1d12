import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pgsage.jobs.v1 import verification_pb2 as _verification_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Suggestion(_message.Message):
    __slots__ = ("name", "kind", "state", "title", "rationale", "target", "tables", "columns", "sql", "rollback_sql", "edited_sql", "edited_rollback_sql", "notes", "estimated_size_bytes", "workload_improvement_percent", "marginal_improvement_percent", "query_impacts", "confidence", "risk", "risk_notes", "evidence", "fingerprint", "verified", "verification", "attempt", "superseded", "prior_decision", "benchmarks", "failure_reason", "create_time", "update_time", "etag", "dismiss_reason", "verdict", "verification_result", "new_since_last_analysis")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Suggestion.Kind]
        CREATE_INDEX: _ClassVar[Suggestion.Kind]
        DROP_UNUSED_INDEX: _ClassVar[Suggestion.Kind]
        DROP_DUPLICATE_INDEX: _ClassVar[Suggestion.Kind]
    KIND_UNSPECIFIED: Suggestion.Kind
    CREATE_INDEX: Suggestion.Kind
    DROP_UNUSED_INDEX: Suggestion.Kind
    DROP_DUPLICATE_INDEX: Suggestion.Kind
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Suggestion.State]
        PENDING: _ClassVar[Suggestion.State]
        APPROVED: _ClassVar[Suggestion.State]
        DISMISSED: _ClassVar[Suggestion.State]
        APPLYING: _ClassVar[Suggestion.State]
        APPLIED: _ClassVar[Suggestion.State]
        APPLY_FAILED: _ClassVar[Suggestion.State]
        ROLLING_BACK: _ClassVar[Suggestion.State]
        ROLLED_BACK: _ClassVar[Suggestion.State]
        ROLLBACK_FAILED: _ClassVar[Suggestion.State]
    STATE_UNSPECIFIED: Suggestion.State
    PENDING: Suggestion.State
    APPROVED: Suggestion.State
    DISMISSED: Suggestion.State
    APPLYING: Suggestion.State
    APPLIED: Suggestion.State
    APPLY_FAILED: Suggestion.State
    ROLLING_BACK: Suggestion.State
    ROLLED_BACK: Suggestion.State
    ROLLBACK_FAILED: Suggestion.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_SQL_FIELD_NUMBER: _ClassVar[int]
    EDITED_SQL_FIELD_NUMBER: _ClassVar[int]
    EDITED_ROLLBACK_SQL_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_IMPROVEMENT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MARGINAL_IMPROVEMENT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUERY_IMPACTS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    RISK_FIELD_NUMBER: _ClassVar[int]
    RISK_NOTES_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    PRIOR_DECISION_FIELD_NUMBER: _ClassVar[int]
    BENCHMARKS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    DISMISS_REASON_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_RESULT_FIELD_NUMBER: _ClassVar[int]
    NEW_SINCE_LAST_ANALYSIS_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: Suggestion.Kind
    state: Suggestion.State
    title: str
    rationale: str
    target: str
    tables: _containers.RepeatedScalarFieldContainer[str]
    columns: _containers.RepeatedCompositeFieldContainer[ColumnRef]
    sql: str
    rollback_sql: str
    edited_sql: str
    edited_rollback_sql: str
    notes: str
    estimated_size_bytes: int
    workload_improvement_percent: float
    marginal_improvement_percent: float
    query_impacts: _containers.RepeatedCompositeFieldContainer[QueryImpact]
    confidence: float
    risk: str
    risk_notes: str
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    fingerprint: str
    verified: bool
    verification: str
    attempt: int
    superseded: bool
    prior_decision: str
    benchmarks: _containers.RepeatedCompositeFieldContainer[BenchmarkResult]
    failure_reason: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    dismiss_reason: str
    verdict: _verification_pb2.Verdict
    verification_result: _verification_pb2.Verification
    new_since_last_analysis: bool
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[Suggestion.Kind, str]] = ..., state: _Optional[_Union[Suggestion.State, str]] = ..., title: _Optional[str] = ..., rationale: _Optional[str] = ..., target: _Optional[str] = ..., tables: _Optional[_Iterable[str]] = ..., columns: _Optional[_Iterable[_Union[ColumnRef, _Mapping]]] = ..., sql: _Optional[str] = ..., rollback_sql: _Optional[str] = ..., edited_sql: _Optional[str] = ..., edited_rollback_sql: _Optional[str] = ..., notes: _Optional[str] = ..., estimated_size_bytes: _Optional[int] = ..., workload_improvement_percent: _Optional[float] = ..., marginal_improvement_percent: _Optional[float] = ..., query_impacts: _Optional[_Iterable[_Union[QueryImpact, _Mapping]]] = ..., confidence: _Optional[float] = ..., risk: _Optional[str] = ..., risk_notes: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., fingerprint: _Optional[str] = ..., verified: _Optional[bool] = ..., verification: _Optional[str] = ..., attempt: _Optional[int] = ..., superseded: _Optional[bool] = ..., prior_decision: _Optional[str] = ..., benchmarks: _Optional[_Iterable[_Union[BenchmarkResult, _Mapping]]] = ..., failure_reason: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., dismiss_reason: _Optional[str] = ..., verdict: _Optional[_Union[_verification_pb2.Verdict, str]] = ..., verification_result: _Optional[_Union[_verification_pb2.Verification, _Mapping]] = ..., new_since_last_analysis: _Optional[bool] = ...) -> None: ...

class ColumnRef(_message.Message):
    __slots__ = ("table", "column")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    table: str
    column: str
    def __init__(self, table: _Optional[str] = ..., column: _Optional[str] = ...) -> None: ...

class QueryImpact(_message.Message):
    __slots__ = ("query_id", "text", "cost_before", "cost_after", "weight", "parameter_mode")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    COST_BEFORE_FIELD_NUMBER: _ClassVar[int]
    COST_AFTER_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_MODE_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    text: str
    cost_before: float
    cost_after: float
    weight: float
    parameter_mode: str
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., cost_before: _Optional[float] = ..., cost_after: _Optional[float] = ..., weight: _Optional[float] = ..., parameter_mode: _Optional[str] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("query_id", "plan_before", "plan_after")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PLAN_AFTER_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    plan_before: str
    plan_after: str
    def __init__(self, query_id: _Optional[str] = ..., plan_before: _Optional[str] = ..., plan_after: _Optional[str] = ...) -> None: ...

class Measurement(_message.Message):
    __slots__ = ("median_ms", "spread_ms", "min_ms", "max_ms", "runs", "shared_hit_blocks", "shared_read_blocks", "plan", "index_used")
    MEDIAN_MS_FIELD_NUMBER: _ClassVar[int]
    SPREAD_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MS_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    SHARED_HIT_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SHARED_READ_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    INDEX_USED_FIELD_NUMBER: _ClassVar[int]
    median_ms: float
    spread_ms: float
    min_ms: float
    max_ms: float
    runs: int
    shared_hit_blocks: int
    shared_read_blocks: int
    plan: str
    index_used: bool
    def __init__(self, median_ms: _Optional[float] = ..., spread_ms: _Optional[float] = ..., min_ms: _Optional[float] = ..., max_ms: _Optional[float] = ..., runs: _Optional[int] = ..., shared_hit_blocks: _Optional[int] = ..., shared_read_blocks: _Optional[int] = ..., plan: _Optional[str] = ..., index_used: _Optional[bool] = ...) -> None: ...

class QueryBenchmark(_message.Message):
    __slots__ = ("query_id", "text", "before", "after", "parameter_values", "regression", "skipped_reason")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_VALUES_FIELD_NUMBER: _ClassVar[int]
    REGRESSION_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_REASON_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    text: str
    before: Measurement
    after: Measurement
    parameter_values: _containers.RepeatedScalarFieldContainer[str]
    regression: bool
    skipped_reason: str
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., before: _Optional[_Union[Measurement, _Mapping]] = ..., after: _Optional[_Union[Measurement, _Mapping]] = ..., parameter_values: _Optional[_Iterable[str]] = ..., regression: _Optional[bool] = ..., skipped_reason: _Optional[str] = ...) -> None: ...

class BenchmarkResult(_message.Message):
    __slots__ = ("job", "environment", "queries", "index_size_bytes", "regression", "create_time", "index_name")
    JOB_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    INDEX_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REGRESSION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    job: str
    environment: str
    queries: _containers.RepeatedCompositeFieldContainer[QueryBenchmark]
    index_size_bytes: int
    regression: bool
    create_time: _timestamp_pb2.Timestamp
    index_name: str
    def __init__(self, job: _Optional[str] = ..., environment: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[QueryBenchmark, _Mapping]]] = ..., index_size_bytes: _Optional[int] = ..., regression: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., index_name: _Optional[str] = ...) -> None: ...
