import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
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
    ANALYSIS_TYPE_MISSING_INDEXES: _ClassVar[AnalysisType]
    ANALYSIS_TYPE_UNUSED_INDEXES: _ClassVar[AnalysisType]
    ANALYSIS_TYPE_DUPLICATE_INDEXES: _ClassVar[AnalysisType]

class ParameterMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PARAMETER_MODE_UNSPECIFIED: _ClassVar[ParameterMode]
    PARAMETER_MODE_LITERAL: _ClassVar[ParameterMode]
    PARAMETER_MODE_GENERIC: _ClassVar[ParameterMode]
    PARAMETER_MODE_PG_STATS: _ClassVar[ParameterMode]

class WorkloadSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WORKLOAD_SOURCE_UNSPECIFIED: _ClassVar[WorkloadSource]
    WORKLOAD_SOURCE_PG_STAT_STATEMENTS: _ClassVar[WorkloadSource]
    WORKLOAD_SOURCE_REQUEST: _ClassVar[WorkloadSource]
    WORKLOAD_SOURCE_REPLAY: _ClassVar[WorkloadSource]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_INFO: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]
ANALYSIS_TYPE_UNSPECIFIED: AnalysisType
ANALYSIS_TYPE_MISSING_INDEXES: AnalysisType
ANALYSIS_TYPE_UNUSED_INDEXES: AnalysisType
ANALYSIS_TYPE_DUPLICATE_INDEXES: AnalysisType
PARAMETER_MODE_UNSPECIFIED: ParameterMode
PARAMETER_MODE_LITERAL: ParameterMode
PARAMETER_MODE_GENERIC: ParameterMode
PARAMETER_MODE_PG_STATS: ParameterMode
WORKLOAD_SOURCE_UNSPECIFIED: WorkloadSource
WORKLOAD_SOURCE_PG_STAT_STATEMENTS: WorkloadSource
WORKLOAD_SOURCE_REQUEST: WorkloadSource
WORKLOAD_SOURCE_REPLAY: WorkloadSource
SEVERITY_UNSPECIFIED: Severity
SEVERITY_INFO: Severity
SEVERITY_WARNING: Severity
SEVERITY_ERROR: Severity

class AnalysisOptions(_message.Message):
    __slots__ = ("storage_budget_bytes", "max_indexes", "max_queries", "min_improvement_percent", "max_index_columns", "parameter_mode", "workload_coverage_percent")
    STORAGE_BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_INDEXES_FIELD_NUMBER: _ClassVar[int]
    MAX_QUERIES_FIELD_NUMBER: _ClassVar[int]
    MIN_IMPROVEMENT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MAX_INDEX_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_MODE_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_COVERAGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    storage_budget_bytes: int
    max_indexes: int
    max_queries: int
    min_improvement_percent: float
    max_index_columns: int
    parameter_mode: ParameterMode
    workload_coverage_percent: float
    def __init__(self, storage_budget_bytes: _Optional[int] = ..., max_indexes: _Optional[int] = ..., max_queries: _Optional[int] = ..., min_improvement_percent: _Optional[float] = ..., max_index_columns: _Optional[int] = ..., parameter_mode: _Optional[_Union[ParameterMode, str]] = ..., workload_coverage_percent: _Optional[float] = ...) -> None: ...

class WorkloadQuery(_message.Message):
    __slots__ = ("query_id", "text", "calls", "total_time_ms", "weight", "rows")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    text: str
    calls: int
    total_time_ms: float
    weight: float
    rows: int
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., calls: _Optional[int] = ..., total_time_ms: _Optional[float] = ..., weight: _Optional[float] = ..., rows: _Optional[int] = ...) -> None: ...

class StatisticsWindow(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Workload(_message.Message):
    __slots__ = ("source", "queries", "window", "total_statements", "total_time_ms")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    source: WorkloadSource
    queries: _containers.RepeatedCompositeFieldContainer[WorkloadQuery]
    window: StatisticsWindow
    total_statements: int
    total_time_ms: float
    def __init__(self, source: _Optional[_Union[WorkloadSource, str]] = ..., queries: _Optional[_Iterable[_Union[WorkloadQuery, _Mapping]]] = ..., window: _Optional[_Union[StatisticsWindow, _Mapping]] = ..., total_statements: _Optional[int] = ..., total_time_ms: _Optional[float] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("stage", "percent", "message")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    stage: str
    percent: float
    message: str
    def __init__(self, stage: _Optional[str] = ..., percent: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class Insight(_message.Message):
    __slots__ = ("severity", "code", "message", "query_id")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    severity: Severity
    code: str
    message: str
    query_id: str
    def __init__(self, severity: _Optional[_Union[Severity, str]] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., query_id: _Optional[str] = ...) -> None: ...
