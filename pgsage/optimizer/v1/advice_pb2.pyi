from pgsage.optimizer.v1 import analysis_pb2 as _analysis_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AdviceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADVICE_KIND_UNSPECIFIED: _ClassVar[AdviceKind]
    ADVICE_KIND_CREATE_INDEX: _ClassVar[AdviceKind]
    ADVICE_KIND_DROP_UNUSED_INDEX: _ClassVar[AdviceKind]
    ADVICE_KIND_DROP_DUPLICATE_INDEX: _ClassVar[AdviceKind]

class Risk(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RISK_UNSPECIFIED: _ClassVar[Risk]
    RISK_LOW: _ClassVar[Risk]
    RISK_MEDIUM: _ClassVar[Risk]
    RISK_HIGH: _ClassVar[Risk]
ADVICE_KIND_UNSPECIFIED: AdviceKind
ADVICE_KIND_CREATE_INDEX: AdviceKind
ADVICE_KIND_DROP_UNUSED_INDEX: AdviceKind
ADVICE_KIND_DROP_DUPLICATE_INDEX: AdviceKind
RISK_UNSPECIFIED: Risk
RISK_LOW: Risk
RISK_MEDIUM: Risk
RISK_HIGH: Risk

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
    parameter_mode: _analysis_pb2.ParameterMode
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., cost_before: _Optional[float] = ..., cost_after: _Optional[float] = ..., weight: _Optional[float] = ..., parameter_mode: _Optional[_Union[_analysis_pb2.ParameterMode, str]] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("query_id", "plan_before", "plan_after")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_BEFORE_FIELD_NUMBER: _ClassVar[int]
    PLAN_AFTER_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    plan_before: str
    plan_after: str
    def __init__(self, query_id: _Optional[str] = ..., plan_before: _Optional[str] = ..., plan_after: _Optional[str] = ...) -> None: ...

class Advice(_message.Message):
    __slots__ = ("kind", "title", "rationale", "tables", "columns", "sql", "rollback_sql", "estimated_size_bytes", "workload_improvement_percent", "marginal_improvement_percent", "query_impacts", "confidence", "risk", "risk_notes", "evidence", "fingerprint", "verified", "verification", "write_overhead")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_SQL_FIELD_NUMBER: _ClassVar[int]
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
    WRITE_OVERHEAD_FIELD_NUMBER: _ClassVar[int]
    kind: AdviceKind
    title: str
    rationale: str
    tables: _containers.RepeatedScalarFieldContainer[str]
    columns: _containers.RepeatedCompositeFieldContainer[ColumnRef]
    sql: str
    rollback_sql: str
    estimated_size_bytes: int
    workload_improvement_percent: float
    marginal_improvement_percent: float
    query_impacts: _containers.RepeatedCompositeFieldContainer[QueryImpact]
    confidence: float
    risk: Risk
    risk_notes: str
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    fingerprint: str
    verified: bool
    verification: str
    write_overhead: float
    def __init__(self, kind: _Optional[_Union[AdviceKind, str]] = ..., title: _Optional[str] = ..., rationale: _Optional[str] = ..., tables: _Optional[_Iterable[str]] = ..., columns: _Optional[_Iterable[_Union[ColumnRef, _Mapping]]] = ..., sql: _Optional[str] = ..., rollback_sql: _Optional[str] = ..., estimated_size_bytes: _Optional[int] = ..., workload_improvement_percent: _Optional[float] = ..., marginal_improvement_percent: _Optional[float] = ..., query_impacts: _Optional[_Iterable[_Union[QueryImpact, _Mapping]]] = ..., confidence: _Optional[float] = ..., risk: _Optional[_Union[Risk, str]] = ..., risk_notes: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., fingerprint: _Optional[str] = ..., verified: _Optional[bool] = ..., verification: _Optional[str] = ..., write_overhead: _Optional[float] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("fingerprints", "workload_cost_before", "workload_cost_after", "workload_improvement_percent", "added_bytes", "freed_bytes", "queries_analyzed", "insights", "recommendations", "what_if_calls", "what_if_cache_hits", "workload_coverage_percent", "queries_left_out", "incomplete_phases", "max_indexes_reached")
    FINGERPRINTS_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_COST_BEFORE_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_COST_AFTER_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_IMPROVEMENT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    ADDED_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREED_BYTES_FIELD_NUMBER: _ClassVar[int]
    QUERIES_ANALYZED_FIELD_NUMBER: _ClassVar[int]
    INSIGHTS_FIELD_NUMBER: _ClassVar[int]
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    WHAT_IF_CALLS_FIELD_NUMBER: _ClassVar[int]
    WHAT_IF_CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_COVERAGE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    QUERIES_LEFT_OUT_FIELD_NUMBER: _ClassVar[int]
    INCOMPLETE_PHASES_FIELD_NUMBER: _ClassVar[int]
    MAX_INDEXES_REACHED_FIELD_NUMBER: _ClassVar[int]
    fingerprints: _containers.RepeatedScalarFieldContainer[str]
    workload_cost_before: float
    workload_cost_after: float
    workload_improvement_percent: float
    added_bytes: int
    freed_bytes: int
    queries_analyzed: int
    insights: int
    recommendations: _containers.RepeatedScalarFieldContainer[str]
    what_if_calls: int
    what_if_cache_hits: int
    workload_coverage_percent: float
    queries_left_out: int
    incomplete_phases: _containers.RepeatedScalarFieldContainer[str]
    max_indexes_reached: bool
    def __init__(self, fingerprints: _Optional[_Iterable[str]] = ..., workload_cost_before: _Optional[float] = ..., workload_cost_after: _Optional[float] = ..., workload_improvement_percent: _Optional[float] = ..., added_bytes: _Optional[int] = ..., freed_bytes: _Optional[int] = ..., queries_analyzed: _Optional[int] = ..., insights: _Optional[int] = ..., recommendations: _Optional[_Iterable[str]] = ..., what_if_calls: _Optional[int] = ..., what_if_cache_hits: _Optional[int] = ..., workload_coverage_percent: _Optional[float] = ..., queries_left_out: _Optional[int] = ..., incomplete_phases: _Optional[_Iterable[str]] = ..., max_indexes_reached: _Optional[bool] = ...) -> None: ...
