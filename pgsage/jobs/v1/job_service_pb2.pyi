import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pgsage.jobs.v1 import access_pb2 as _access_pb2
from pgsage.jobs.v1 import audit_pb2 as _audit_pb2
from pgsage.jobs.v1 import job_pb2 as _job_pb2
from pgsage.jobs.v1 import schedule_pb2 as _schedule_pb2
from pgsage.jobs.v1 import suggestion_pb2 as _suggestion_pb2
from pgsage.jobs.v1 import verification_pb2 as _verification_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateJobRequest(_message.Message):
    __slots__ = ("job", "request_id")
    JOB_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    job: _job_pb2.Job
    request_id: str
    def __init__(self, job: _Optional[_Union[_job_pb2.Job, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_job_pb2.Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[_job_pb2.Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CountJobsRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: str
    def __init__(self, filter: _Optional[str] = ...) -> None: ...

class CountJobsResponse(_message.Message):
    __slots__ = ("counts", "total")
    class StateCount(_message.Message):
        __slots__ = ("state", "count")
        STATE_FIELD_NUMBER: _ClassVar[int]
        COUNT_FIELD_NUMBER: _ClassVar[int]
        state: _job_pb2.Job.State
        count: int
        def __init__(self, state: _Optional[_Union[_job_pb2.Job.State, str]] = ..., count: _Optional[int] = ...) -> None: ...
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[CountJobsResponse.StateCount]
    total: int
    def __init__(self, counts: _Optional[_Iterable[_Union[CountJobsResponse.StateCount, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class RetryJobRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteJobRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("name", "since_revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SINCE_REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    since_revision: int
    def __init__(self, name: _Optional[str] = ..., since_revision: _Optional[int] = ...) -> None: ...

class WatchJobResponse(_message.Message):
    __slots__ = ("revision", "event_type", "event_time", "job", "suggestion")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    SUGGESTION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    event_type: str
    event_time: _timestamp_pb2.Timestamp
    job: _job_pb2.Job
    suggestion: _suggestion_pb2.Suggestion
    def __init__(self, revision: _Optional[int] = ..., event_type: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., job: _Optional[_Union[_job_pb2.Job, _Mapping]] = ..., suggestion: _Optional[_Union[_suggestion_pb2.Suggestion, _Mapping]] = ...) -> None: ...

class ListSuggestionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "filter")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    filter: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class ListSuggestionsResponse(_message.Message):
    __slots__ = ("suggestions", "next_page_token")
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedCompositeFieldContainer[_suggestion_pb2.Suggestion]
    next_page_token: str
    def __init__(self, suggestions: _Optional[_Iterable[_Union[_suggestion_pb2.Suggestion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetSuggestionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ApproveSuggestionRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DismissSuggestionRequest(_message.Message):
    __slots__ = ("name", "etag", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateSuggestionRequest(_message.Message):
    __slots__ = ("suggestion", "update_mask")
    SUGGESTION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    suggestion: _suggestion_pb2.Suggestion
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, suggestion: _Optional[_Union[_suggestion_pb2.Suggestion, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ListTargetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Target(_message.Message):
    __slots__ = ("name", "apply_allowed", "what_if_engine", "reachable", "unreachable_reason", "server_version", "pg_stat_statements", "hypopg_version", "sandbox", "build_timeout", "lock_timeout", "verification_window", "on_regression")
    NAME_FIELD_NUMBER: _ClassVar[int]
    APPLY_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    WHAT_IF_ENGINE_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    PG_STAT_STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    HYPOPG_VERSION_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    BUILD_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    LOCK_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_WINDOW_FIELD_NUMBER: _ClassVar[int]
    ON_REGRESSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    apply_allowed: bool
    what_if_engine: str
    reachable: bool
    unreachable_reason: str
    server_version: str
    pg_stat_statements: bool
    hypopg_version: str
    sandbox: str
    build_timeout: _duration_pb2.Duration
    lock_timeout: _duration_pb2.Duration
    verification_window: _duration_pb2.Duration
    on_regression: str
    def __init__(self, name: _Optional[str] = ..., apply_allowed: _Optional[bool] = ..., what_if_engine: _Optional[str] = ..., reachable: _Optional[bool] = ..., unreachable_reason: _Optional[str] = ..., server_version: _Optional[str] = ..., pg_stat_statements: _Optional[bool] = ..., hypopg_version: _Optional[str] = ..., sandbox: _Optional[str] = ..., build_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., lock_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., verification_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., on_regression: _Optional[str] = ...) -> None: ...

class ListTargetsResponse(_message.Message):
    __slots__ = ("targets",)
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[Target]
    def __init__(self, targets: _Optional[_Iterable[_Union[Target, _Mapping]]] = ...) -> None: ...

class GetDiagnosticsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Dependency(_message.Message):
    __slots__ = ("name", "status", "message", "check_time", "latency")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Dependency.Status]
        OK: _ClassVar[Dependency.Status]
        DEGRADED: _ClassVar[Dependency.Status]
        DOWN: _ClassVar[Dependency.Status]
    STATUS_UNSPECIFIED: Dependency.Status
    OK: Dependency.Status
    DEGRADED: Dependency.Status
    DOWN: Dependency.Status
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CHECK_TIME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: Dependency.Status
    message: str
    check_time: _timestamp_pb2.Timestamp
    latency: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., status: _Optional[_Union[Dependency.Status, str]] = ..., message: _Optional[str] = ..., check_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetDiagnosticsResponse(_message.Message):
    __slots__ = ("dependencies",)
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    dependencies: _containers.RepeatedCompositeFieldContainer[Dependency]
    def __init__(self, dependencies: _Optional[_Iterable[_Union[Dependency, _Mapping]]] = ...) -> None: ...

class ListAuditRecordsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class ListAuditRecordsResponse(_message.Message):
    __slots__ = ("audit_records", "next_page_token")
    AUDIT_RECORDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    audit_records: _containers.RepeatedCompositeFieldContainer[_audit_pb2.AuditRecord]
    next_page_token: str
    def __init__(self, audit_records: _Optional[_Iterable[_Union[_audit_pb2.AuditRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifySuggestionRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListWorkloadSnapshotsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "totals_only")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    TOTALS_ONLY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    totals_only: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., totals_only: _Optional[bool] = ...) -> None: ...

class ListWorkloadSnapshotsResponse(_message.Message):
    __slots__ = ("workload_snapshots", "next_page_token")
    WORKLOAD_SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    workload_snapshots: _containers.RepeatedCompositeFieldContainer[_verification_pb2.WorkloadSnapshot]
    next_page_token: str
    def __init__(self, workload_snapshots: _Optional[_Iterable[_Union[_verification_pb2.WorkloadSnapshot, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetTargetSummaryRequest(_message.Message):
    __slots__ = ("name", "workload_period")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_PERIOD_FIELD_NUMBER: _ClassVar[int]
    name: str
    workload_period: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., workload_period: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WorkloadPoint(_message.Message):
    __slots__ = ("time", "reason", "calls", "total_exec_time_ms", "has_interval", "interval_calls", "interval_exec_time_ms", "interval_seconds")
    TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    HAS_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_CALLS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    reason: str
    calls: int
    total_exec_time_ms: float
    has_interval: bool
    interval_calls: int
    interval_exec_time_ms: float
    interval_seconds: float
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., calls: _Optional[int] = ..., total_exec_time_ms: _Optional[float] = ..., has_interval: _Optional[bool] = ..., interval_calls: _Optional[int] = ..., interval_exec_time_ms: _Optional[float] = ..., interval_seconds: _Optional[float] = ...) -> None: ...

class Improvement(_message.Message):
    __slots__ = ("applied_changes", "improved", "no_effect", "regressed", "inconclusive", "unverified", "time_before_ms", "time_after_ms", "time_saved_percent", "speedup", "time_saved_ms_per_hour", "headline", "rolled_back")
    APPLIED_CHANGES_FIELD_NUMBER: _ClassVar[int]
    IMPROVED_FIELD_NUMBER: _ClassVar[int]
    NO_EFFECT_FIELD_NUMBER: _ClassVar[int]
    REGRESSED_FIELD_NUMBER: _ClassVar[int]
    INCONCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    UNVERIFIED_FIELD_NUMBER: _ClassVar[int]
    TIME_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_SAVED_PERCENT_FIELD_NUMBER: _ClassVar[int]
    SPEEDUP_FIELD_NUMBER: _ClassVar[int]
    TIME_SAVED_MS_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    HEADLINE_FIELD_NUMBER: _ClassVar[int]
    ROLLED_BACK_FIELD_NUMBER: _ClassVar[int]
    applied_changes: int
    improved: int
    no_effect: int
    regressed: int
    inconclusive: int
    unverified: int
    time_before_ms: float
    time_after_ms: float
    time_saved_percent: float
    speedup: float
    time_saved_ms_per_hour: float
    headline: str
    rolled_back: int
    def __init__(self, applied_changes: _Optional[int] = ..., improved: _Optional[int] = ..., no_effect: _Optional[int] = ..., regressed: _Optional[int] = ..., inconclusive: _Optional[int] = ..., unverified: _Optional[int] = ..., time_before_ms: _Optional[float] = ..., time_after_ms: _Optional[float] = ..., time_saved_percent: _Optional[float] = ..., speedup: _Optional[float] = ..., time_saved_ms_per_hour: _Optional[float] = ..., headline: _Optional[str] = ..., rolled_back: _Optional[int] = ...) -> None: ...

class TargetSummary(_message.Message):
    __slots__ = ("name", "target", "info", "analyses", "open_suggestions", "applied_changes", "schedules", "workload", "improvement", "snapshot_interval")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    INFO_FIELD_NUMBER: _ClassVar[int]
    ANALYSES_FIELD_NUMBER: _ClassVar[int]
    OPEN_SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    APPLIED_CHANGES_FIELD_NUMBER: _ClassVar[int]
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    IMPROVEMENT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    name: str
    target: str
    info: Target
    analyses: _containers.RepeatedCompositeFieldContainer[_job_pb2.Job]
    open_suggestions: _containers.RepeatedCompositeFieldContainer[_suggestion_pb2.Suggestion]
    applied_changes: _containers.RepeatedCompositeFieldContainer[_suggestion_pb2.Suggestion]
    schedules: _containers.RepeatedCompositeFieldContainer[_schedule_pb2.Schedule]
    workload: _containers.RepeatedCompositeFieldContainer[WorkloadPoint]
    improvement: Improvement
    snapshot_interval: _duration_pb2.Duration
    def __init__(self, name: _Optional[str] = ..., target: _Optional[str] = ..., info: _Optional[_Union[Target, _Mapping]] = ..., analyses: _Optional[_Iterable[_Union[_job_pb2.Job, _Mapping]]] = ..., open_suggestions: _Optional[_Iterable[_Union[_suggestion_pb2.Suggestion, _Mapping]]] = ..., applied_changes: _Optional[_Iterable[_Union[_suggestion_pb2.Suggestion, _Mapping]]] = ..., schedules: _Optional[_Iterable[_Union[_schedule_pb2.Schedule, _Mapping]]] = ..., workload: _Optional[_Iterable[_Union[WorkloadPoint, _Mapping]]] = ..., improvement: _Optional[_Union[Improvement, _Mapping]] = ..., snapshot_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...
