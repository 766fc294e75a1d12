import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from pgsage.jobs.v1 import verification_pb2 as _verification_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnalysisType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANALYSIS_TYPE_UNSPECIFIED: _ClassVar[AnalysisType]
    MISSING_INDEXES: _ClassVar[AnalysisType]
    UNUSED_INDEXES: _ClassVar[AnalysisType]
    DUPLICATE_INDEXES: _ClassVar[AnalysisType]
ANALYSIS_TYPE_UNSPECIFIED: AnalysisType
MISSING_INDEXES: AnalysisType
UNUSED_INDEXES: AnalysisType
DUPLICATE_INDEXES: AnalysisType

class Job(_message.Message):
    __slots__ = ("name", "kind", "state", "target", "analysis_types", "options", "queries", "suggestion", "progress", "counts", "statistics_window", "summary", "error", "attempt", "max_attempts", "lease_owner", "lease_expire_time", "create_time", "start_time", "end_time", "update_time", "expire_time", "revision", "etag", "cancel_requested", "creator", "change_options", "verification", "schedule", "schedule_time", "due_time")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Job.Kind]
        ANALYZE: _ClassVar[Job.Kind]
        BENCHMARK: _ClassVar[Job.Kind]
        APPLY: _ClassVar[Job.Kind]
        ROLLBACK: _ClassVar[Job.Kind]
        VERIFY: _ClassVar[Job.Kind]
    KIND_UNSPECIFIED: Job.Kind
    ANALYZE: Job.Kind
    BENCHMARK: Job.Kind
    APPLY: Job.Kind
    ROLLBACK: Job.Kind
    VERIFY: Job.Kind
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Job.State]
        PENDING: _ClassVar[Job.State]
        RUNNING: _ClassVar[Job.State]
        CANCELLING: _ClassVar[Job.State]
        SUCCEEDED: _ClassVar[Job.State]
        FAILED: _ClassVar[Job.State]
        CANCELLED: _ClassVar[Job.State]
    STATE_UNSPECIFIED: Job.State
    PENDING: Job.State
    RUNNING: Job.State
    CANCELLING: Job.State
    SUCCEEDED: Job.State
    FAILED: Job.State
    CANCELLED: Job.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_TYPES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    SUGGESTION_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    STATISTICS_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LEASE_OWNER_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CHANGE_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_TIME_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: Job.Kind
    state: Job.State
    target: str
    analysis_types: _containers.RepeatedScalarFieldContainer[AnalysisType]
    options: AnalysisOptions
    queries: _containers.RepeatedScalarFieldContainer[str]
    suggestion: str
    progress: Progress
    counts: Counts
    statistics_window: StatisticsWindow
    summary: Summary
    error: _status_pb2.Status
    attempt: int
    max_attempts: int
    lease_owner: str
    lease_expire_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revision: int
    etag: str
    cancel_requested: bool
    creator: str
    change_options: ChangeOptions
    verification: _verification_pb2.Verification
    schedule: str
    schedule_time: _timestamp_pb2.Timestamp
    due_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[Job.Kind, str]] = ..., state: _Optional[_Union[Job.State, str]] = ..., target: _Optional[str] = ..., analysis_types: _Optional[_Iterable[_Union[AnalysisType, str]]] = ..., options: _Optional[_Union[AnalysisOptions, _Mapping]] = ..., queries: _Optional[_Iterable[str]] = ..., suggestion: _Optional[str] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., counts: _Optional[_Union[Counts, _Mapping]] = ..., statistics_window: _Optional[_Union[StatisticsWindow, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., attempt: _Optional[int] = ..., max_attempts: _Optional[int] = ..., lease_owner: _Optional[str] = ..., lease_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revision: _Optional[int] = ..., etag: _Optional[str] = ..., cancel_requested: _Optional[bool] = ..., creator: _Optional[str] = ..., change_options: _Optional[_Union[ChangeOptions, _Mapping]] = ..., verification: _Optional[_Union[_verification_pb2.Verification, _Mapping]] = ..., schedule: _Optional[str] = ..., schedule_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AnalysisOptions(_message.Message):
    __slots__ = ("storage_budget_bytes", "max_indexes", "max_queries", "min_improvement_percent", "max_index_columns", "workload_coverage_percent")
    STORAGE_BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_INDEXES_FIELD_NUMBER: _ClassVar[int]
    MAX_QUERIES_FIELD_NUMBER: _ClassVar[int]
    MIN_IMPROVEMENT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MAX_INDEX_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_COVERAGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    storage_budget_bytes: int
    max_indexes: int
    max_queries: int
    min_improvement_percent: float
    max_index_columns: int
    workload_coverage_percent: float
    def __init__(self, storage_budget_bytes: _Optional[int] = ..., max_indexes: _Optional[int] = ..., max_queries: _Optional[int] = ..., min_improvement_percent: _Optional[float] = ..., max_index_columns: _Optional[int] = ..., workload_coverage_percent: _Optional[float] = ...) -> None: ...

class ChangeOptions(_message.Message):
    __slots__ = ("build_timeout", "lock_timeout")
    BUILD_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    LOCK_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    build_timeout: _duration_pb2.Duration
    lock_timeout: _duration_pb2.Duration
    def __init__(self, build_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., lock_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "percent", "message")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    stage: str
    percent: float
    message: str
    def __init__(self, stage: _Optional[str] = ..., percent: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class Counts(_message.Message):
    __slots__ = ("queries", "insights", "suggestions")
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    queries: int
    insights: int
    suggestions: int
    def __init__(self, queries: _Optional[int] = ..., insights: _Optional[int] = ..., suggestions: _Optional[int] = ...) -> None: ...

class StatisticsWindow(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("workload_cost_before", "workload_cost_after", "workload_improvement_percent", "added_bytes", "freed_bytes", "recommendations", "insights", "workload_coverage_percent", "queries_left_out", "incomplete_phases", "comparison")
    WORKLOAD_COST_BEFORE_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_COST_AFTER_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_IMPROVEMENT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    ADDED_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREED_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_COVERAGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUERIES_LEFT_OUT_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_PHASES_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    workload_cost_before: float
    workload_cost_after: float
    workload_improvement_percent: float
    added_bytes: int
    freed_bytes: int
    recommendations: _containers.RepeatedScalarFieldContainer[str]
    insights: _containers.RepeatedCompositeFieldContainer[Insight]
    workload_coverage_percent: float
    queries_left_out: int
    incomplete_phases: _containers.RepeatedScalarFieldContainer[str]
    comparison: AnalysisComparison
    def __init__(self, workload_cost_before: _Optional[float] = ..., workload_cost_after: _Optional[float] = ..., workload_improvement_percent: _Optional[float] = ..., added_bytes: _Optional[int] = ..., freed_bytes: _Optional[int] = ..., recommendations: _Optional[_Iterable[str]] = ..., insights: _Optional[_Iterable[_Union[Insight, _Mapping]]] = ..., workload_coverage_percent: _Optional[float] = ..., queries_left_out: _Optional[int] = ..., incomplete_phases: _Optional[_Iterable[str]] = ..., comparison: _Optional[_Union[AnalysisComparison, _Mapping]] = ...) -> None: ...

class Insight(_message.Message):
    __slots__ = ("severity", "code", "message", "query_id")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    severity: str
    code: str
    message: str
    query_id: str
    def __init__(self, severity: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., query_id: _Optional[str] = ...) -> None: ...

class AnalysisComparison(_message.Message):
    __slots__ = ("previous_job", "previous_end_time", "new_count", "gone_count", "changed_count", "unchanged_count", "new_fingerprints", "gone", "changed")
    PREVIOUS_JOB_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_END_TIME_FIELD_NUMBER: _ClassVar[int]
    NEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    GONE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_COUNT_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEW_FINGERPRINTS_FIELD_NUMBER: _ClassVar[int]
    GONE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    previous_job: str
    previous_end_time: _timestamp_pb2.Timestamp
    new_count: int
    gone_count: int
    changed_count: int
    unchanged_count: int
    new_fingerprints: _containers.RepeatedScalarFieldContainer[str]
    gone: _containers.RepeatedCompositeFieldContainer[ComparedSuggestion]
    changed: _containers.RepeatedCompositeFieldContainer[ComparedSuggestion]
    def __init__(self, previous_job: _Optional[str] = ..., previous_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., new_count: _Optional[int] = ..., gone_count: _Optional[int] = ..., changed_count: _Optional[int] = ..., unchanged_count: _Optional[int] = ..., new_fingerprints: _Optional[_Iterable[str]] = ..., gone: _Optional[_Iterable[_Union[ComparedSuggestion, _Mapping]]] = ..., changed: _Optional[_Iterable[_Union[ComparedSuggestion, _Mapping]]] = ...) -> None: ...

class ComparedSuggestion(_message.Message):
    __slots__ = ("fingerprint", "suggestion", "title", "kind", "previous_improvement_percent", "improvement_percent", "previous_size_bytes", "size_bytes")
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    SUGGESTION_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_IMPROVEMENT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    IMPROVEMENT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    fingerprint: str
    suggestion: str
    title: str
    kind: str
    previous_improvement_percent: float
    improvement_percent: float
    previous_size_bytes: int
    size_bytes: int
    def __init__(self, fingerprint: _Optional[str] = ..., suggestion: _Optional[str] = ..., title: _Optional[str] = ..., kind: _Optional[str] = ..., previous_improvement_percent: _Optional[float] = ..., improvement_percent: _Optional[float] = ..., previous_size_bytes: _Optional[int] = ..., size_bytes: _Optional[int] = ...) -> None: ...
