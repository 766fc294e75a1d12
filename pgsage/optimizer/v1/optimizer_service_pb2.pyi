import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pgsage.optimizer.v1 import advice_pb2 as _advice_pb2
from pgsage.optimizer.v1 import analysis_pb2 as _analysis_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WhatIfEngine(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WHAT_IF_ENGINE_UNSPECIFIED: _ClassVar[WhatIfEngine]
    WHAT_IF_ENGINE_HYPOPG: _ClassVar[WhatIfEngine]
    WHAT_IF_ENGINE_TRANSACTIONAL: _ClassVar[WhatIfEngine]
    WHAT_IF_ENGINE_NONE: _ClassVar[WhatIfEngine]

class OnRegression(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ON_REGRESSION_UNSPECIFIED: _ClassVar[OnRegression]
    ON_REGRESSION_NOTIFY: _ClassVar[OnRegression]
    ON_REGRESSION_ROLLBACK: _ClassVar[OnRegression]
WHAT_IF_ENGINE_UNSPECIFIED: WhatIfEngine
WHAT_IF_ENGINE_HYPOPG: WhatIfEngine
WHAT_IF_ENGINE_TRANSACTIONAL: WhatIfEngine
WHAT_IF_ENGINE_NONE: WhatIfEngine
ON_REGRESSION_UNSPECIFIED: OnRegression
ON_REGRESSION_NOTIFY: OnRegression
ON_REGRESSION_ROLLBACK: OnRegression

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
    what_if_engine: WhatIfEngine
    reachable: bool
    unreachable_reason: str
    server_version: str
    pg_stat_statements: bool
    hypopg_version: str
    sandbox: str
    build_timeout: _duration_pb2.Duration
    lock_timeout: _duration_pb2.Duration
    verification_window: _duration_pb2.Duration
    on_regression: OnRegression
    def __init__(self, name: _Optional[str] = ..., apply_allowed: _Optional[bool] = ..., what_if_engine: _Optional[_Union[WhatIfEngine, str]] = ..., reachable: _Optional[bool] = ..., unreachable_reason: _Optional[str] = ..., server_version: _Optional[str] = ..., pg_stat_statements: _Optional[bool] = ..., hypopg_version: _Optional[str] = ..., sandbox: _Optional[str] = ..., build_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., lock_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., verification_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., on_regression: _Optional[_Union[OnRegression, str]] = ...) -> None: ...

class AnalyzeRequest(_message.Message):
    __slots__ = ("target", "analysis_types", "options", "workload")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ANALYSIS_TYPES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    target: str
    analysis_types: _containers.RepeatedScalarFieldContainer[_analysis_pb2.AnalysisType]
    options: _analysis_pb2.AnalysisOptions
    workload: _analysis_pb2.Workload
    def __init__(self, target: _Optional[str] = ..., analysis_types: _Optional[_Iterable[_Union[_analysis_pb2.AnalysisType, str]]] = ..., options: _Optional[_Union[_analysis_pb2.AnalysisOptions, _Mapping]] = ..., workload: _Optional[_Union[_analysis_pb2.Workload, _Mapping]] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("workload", "progress", "insight", "advice", "summary")
    WORKLOAD_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    INSIGHT_FIELD_NUMBER: _ClassVar[int]
    ADVICE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    workload: _analysis_pb2.Workload
    progress: _analysis_pb2.Progress
    insight: _analysis_pb2.Insight
    advice: _advice_pb2.Advice
    summary: _advice_pb2.Summary
    def __init__(self, workload: _Optional[_Union[_analysis_pb2.Workload, _Mapping]] = ..., progress: _Optional[_Union[_analysis_pb2.Progress, _Mapping]] = ..., insight: _Optional[_Union[_analysis_pb2.Insight, _Mapping]] = ..., advice: _Optional[_Union[_advice_pb2.Advice, _Mapping]] = ..., summary: _Optional[_Union[_advice_pb2.Summary, _Mapping]] = ...) -> None: ...

class ListTargetsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTargetsResponse(_message.Message):
    __slots__ = ("targets",)
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    targets: _containers.RepeatedCompositeFieldContainer[Target]
    def __init__(self, targets: _Optional[_Iterable[_Union[Target, _Mapping]]] = ...) -> None: ...

class ValidateStatementRequest(_message.Message):
    __slots__ = ("target", "sql", "expected_kind", "expected_table")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_KIND_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_TABLE_FIELD_NUMBER: _ClassVar[int]
    target: str
    sql: str
    expected_kind: _advice_pb2.AdviceKind
    expected_table: str
    def __init__(self, target: _Optional[str] = ..., sql: _Optional[str] = ..., expected_kind: _Optional[_Union[_advice_pb2.AdviceKind, str]] = ..., expected_table: _Optional[str] = ...) -> None: ...

class ValidateStatementResponse(_message.Message):
    __slots__ = ("kind", "table", "index_name", "normalized_sql", "rollback_sql", "resolved_definition")
    KIND_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_SQL_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_SQL_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_DEFINITION_FIELD_NUMBER: _ClassVar[int]
    kind: _advice_pb2.AdviceKind
    table: str
    index_name: str
    normalized_sql: str
    rollback_sql: str
    resolved_definition: str
    def __init__(self, kind: _Optional[_Union[_advice_pb2.AdviceKind, str]] = ..., table: _Optional[str] = ..., index_name: _Optional[str] = ..., normalized_sql: _Optional[str] = ..., rollback_sql: _Optional[str] = ..., resolved_definition: _Optional[str] = ...) -> None: ...

class StatementExecution(_message.Message):
    __slots__ = ("target", "sql", "phase", "error", "time")
    class Phase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PHASE_UNSPECIFIED: _ClassVar[StatementExecution.Phase]
        STARTED: _ClassVar[StatementExecution.Phase]
        SUCCEEDED: _ClassVar[StatementExecution.Phase]
        FAILED: _ClassVar[StatementExecution.Phase]
    PHASE_UNSPECIFIED: StatementExecution.Phase
    STARTED: StatementExecution.Phase
    SUCCEEDED: StatementExecution.Phase
    FAILED: StatementExecution.Phase
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    target: str
    sql: str
    phase: StatementExecution.Phase
    error: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, target: _Optional[str] = ..., sql: _Optional[str] = ..., phase: _Optional[_Union[StatementExecution.Phase, str]] = ..., error: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BenchmarkRequest(_message.Message):
    __slots__ = ("target", "kind", "sql", "rollback_sql", "queries", "runs", "sample_percent")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_SQL_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    target: str
    kind: _advice_pb2.AdviceKind
    sql: str
    rollback_sql: str
    queries: _containers.RepeatedCompositeFieldContainer[_analysis_pb2.WorkloadQuery]
    runs: int
    sample_percent: float
    def __init__(self, target: _Optional[str] = ..., kind: _Optional[_Union[_advice_pb2.AdviceKind, str]] = ..., sql: _Optional[str] = ..., rollback_sql: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[_analysis_pb2.WorkloadQuery, _Mapping]]] = ..., runs: _Optional[int] = ..., sample_percent: _Optional[float] = ...) -> None: ...

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
    __slots__ = ("environment", "queries", "index_size_bytes", "regression", "index_name")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    INDEX_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    REGRESSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    environment: str
    queries: _containers.RepeatedCompositeFieldContainer[QueryBenchmark]
    index_size_bytes: int
    regression: bool
    index_name: str
    def __init__(self, environment: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[QueryBenchmark, _Mapping]]] = ..., index_size_bytes: _Optional[int] = ..., regression: _Optional[bool] = ..., index_name: _Optional[str] = ...) -> None: ...

class BenchmarkResponse(_message.Message):
    __slots__ = ("progress", "statement", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _analysis_pb2.Progress
    statement: StatementExecution
    result: BenchmarkResult
    def __init__(self, progress: _Optional[_Union[_analysis_pb2.Progress, _Mapping]] = ..., statement: _Optional[_Union[StatementExecution, _Mapping]] = ..., result: _Optional[_Union[BenchmarkResult, _Mapping]] = ...) -> None: ...

class ApplyRequest(_message.Message):
    __slots__ = ("target", "kind", "sql", "lock_timeout", "statement_timeout")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SQL_FIELD_NUMBER: _ClassVar[int]
    LOCK_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    target: str
    kind: _advice_pb2.AdviceKind
    sql: str
    lock_timeout: _duration_pb2.Duration
    statement_timeout: _duration_pb2.Duration
    def __init__(self, target: _Optional[str] = ..., kind: _Optional[_Union[_advice_pb2.AdviceKind, str]] = ..., sql: _Optional[str] = ..., lock_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., statement_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ChangeResult(_message.Message):
    __slots__ = ("index_name", "index_exists", "index_valid", "index_size_bytes", "already_in_place", "index_oid", "index_definition")
    INDEX_NAME_FIELD_NUMBER: _ClassVar[int]
    INDEX_EXISTS_FIELD_NUMBER: _ClassVar[int]
    INDEX_VALID_FIELD_NUMBER: _ClassVar[int]
    INDEX_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ALREADY_IN_PLACE_FIELD_NUMBER: _ClassVar[int]
    INDEX_OID_FIELD_NUMBER: _ClassVar[int]
    INDEX_DEFINITION_FIELD_NUMBER: _ClassVar[int]
    index_name: str
    index_exists: bool
    index_valid: bool
    index_size_bytes: int
    already_in_place: bool
    index_oid: int
    index_definition: str
    def __init__(self, index_name: _Optional[str] = ..., index_exists: _Optional[bool] = ..., index_valid: _Optional[bool] = ..., index_size_bytes: _Optional[int] = ..., already_in_place: _Optional[bool] = ..., index_oid: _Optional[int] = ..., index_definition: _Optional[str] = ...) -> None: ...

class ApplyResponse(_message.Message):
    __slots__ = ("progress", "statement", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _analysis_pb2.Progress
    statement: StatementExecution
    result: ChangeResult
    def __init__(self, progress: _Optional[_Union[_analysis_pb2.Progress, _Mapping]] = ..., statement: _Optional[_Union[StatementExecution, _Mapping]] = ..., result: _Optional[_Union[ChangeResult, _Mapping]] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("target", "kind", "rollback_sql", "lock_timeout", "statement_timeout", "expected_index_oid", "expected_index_definition")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_SQL_FIELD_NUMBER: _ClassVar[int]
    LOCK_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_INDEX_OID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_INDEX_DEFINITION_FIELD_NUMBER: _ClassVar[int]
    target: str
    kind: _advice_pb2.AdviceKind
    rollback_sql: str
    lock_timeout: _duration_pb2.Duration
    statement_timeout: _duration_pb2.Duration
    expected_index_oid: int
    expected_index_definition: str
    def __init__(self, target: _Optional[str] = ..., kind: _Optional[_Union[_advice_pb2.AdviceKind, str]] = ..., rollback_sql: _Optional[str] = ..., lock_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., statement_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., expected_index_oid: _Optional[int] = ..., expected_index_definition: _Optional[str] = ...) -> None: ...

class RollbackResponse(_message.Message):
    __slots__ = ("progress", "statement", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: _analysis_pb2.Progress
    statement: StatementExecution
    result: ChangeResult
    def __init__(self, progress: _Optional[_Union[_analysis_pb2.Progress, _Mapping]] = ..., statement: _Optional[_Union[StatementExecution, _Mapping]] = ..., result: _Optional[_Union[ChangeResult, _Mapping]] = ...) -> None: ...

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

class SnapshotRequest(_message.Message):
    __slots__ = ("target", "query_ids", "queries", "tables", "indexes", "table_statements")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    QUERY_IDS_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    TABLE_STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    target: str
    query_ids: _containers.RepeatedScalarFieldContainer[str]
    queries: _containers.RepeatedCompositeFieldContainer[_analysis_pb2.WorkloadQuery]
    tables: _containers.RepeatedScalarFieldContainer[str]
    indexes: _containers.RepeatedScalarFieldContainer[str]
    table_statements: int
    def __init__(self, target: _Optional[str] = ..., query_ids: _Optional[_Iterable[str]] = ..., queries: _Optional[_Iterable[_Union[_analysis_pb2.WorkloadQuery, _Mapping]]] = ..., tables: _Optional[_Iterable[str]] = ..., indexes: _Optional[_Iterable[str]] = ..., table_statements: _Optional[int] = ...) -> None: ...

class SnapshotResponse(_message.Message):
    __slots__ = ("progress", "snapshot")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    progress: _analysis_pb2.Progress
    snapshot: WorkloadSnapshot
    def __init__(self, progress: _Optional[_Union[_analysis_pb2.Progress, _Mapping]] = ..., snapshot: _Optional[_Union[WorkloadSnapshot, _Mapping]] = ...) -> None: ...

class WorkloadSnapshot(_message.Message):
    __slots__ = ("target", "time", "stats_reset", "deallocations", "statements", "calls", "total_exec_time_ms", "statement_stats", "table_stats", "index_stats", "verification_window", "on_regression")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    STATS_RESET_FIELD_NUMBER: _ClassVar[int]
    DEALLOCATIONS_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_STATS_FIELD_NUMBER: _ClassVar[int]
    TABLE_STATS_FIELD_NUMBER: _ClassVar[int]
    INDEX_STATS_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_WINDOW_FIELD_NUMBER: _ClassVar[int]
    ON_REGRESSION_FIELD_NUMBER: _ClassVar[int]
    target: str
    time: _timestamp_pb2.Timestamp
    stats_reset: _timestamp_pb2.Timestamp
    deallocations: int
    statements: int
    calls: int
    total_exec_time_ms: float
    statement_stats: _containers.RepeatedCompositeFieldContainer[StatementStats]
    table_stats: _containers.RepeatedCompositeFieldContainer[TableStats]
    index_stats: _containers.RepeatedCompositeFieldContainer[IndexStats]
    verification_window: _duration_pb2.Duration
    on_regression: OnRegression
    def __init__(self, target: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stats_reset: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deallocations: _Optional[int] = ..., statements: _Optional[int] = ..., calls: _Optional[int] = ..., total_exec_time_ms: _Optional[float] = ..., statement_stats: _Optional[_Iterable[_Union[StatementStats, _Mapping]]] = ..., table_stats: _Optional[_Iterable[_Union[TableStats, _Mapping]]] = ..., index_stats: _Optional[_Iterable[_Union[IndexStats, _Mapping]]] = ..., verification_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., on_regression: _Optional[_Union[OnRegression, str]] = ...) -> None: ...

class StatementStats(_message.Message):
    __slots__ = ("query_id", "text", "calls", "total_exec_time_ms", "mean_exec_time_ms", "stddev_exec_time_ms", "shared_blks_hit", "shared_blks_read", "rows", "statement_kind", "tables", "requested_as")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    STDDEV_EXEC_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    SHARED_BLKS_HIT_FIELD_NUMBER: _ClassVar[int]
    SHARED_BLKS_READ_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    TABLES_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AS_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    text: str
    calls: int
    total_exec_time_ms: float
    mean_exec_time_ms: float
    stddev_exec_time_ms: float
    shared_blks_hit: int
    shared_blks_read: int
    rows: int
    statement_kind: str
    tables: _containers.RepeatedScalarFieldContainer[str]
    requested_as: str
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., calls: _Optional[int] = ..., total_exec_time_ms: _Optional[float] = ..., mean_exec_time_ms: _Optional[float] = ..., stddev_exec_time_ms: _Optional[float] = ..., shared_blks_hit: _Optional[int] = ..., shared_blks_read: _Optional[int] = ..., rows: _Optional[int] = ..., statement_kind: _Optional[str] = ..., tables: _Optional[_Iterable[str]] = ..., requested_as: _Optional[str] = ...) -> None: ...

class TableStats(_message.Message):
    __slots__ = ("table", "exists", "seq_scan", "idx_scan", "n_tup_ins", "n_tup_upd", "n_tup_del", "n_tup_hot_upd", "n_live_tup")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    SEQ_SCAN_FIELD_NUMBER: _ClassVar[int]
    IDX_SCAN_FIELD_NUMBER: _ClassVar[int]
    N_TUP_INS_FIELD_NUMBER: _ClassVar[int]
    N_TUP_UPD_FIELD_NUMBER: _ClassVar[int]
    N_TUP_DEL_FIELD_NUMBER: _ClassVar[int]
    N_TUP_HOT_UPD_FIELD_NUMBER: _ClassVar[int]
    N_LIVE_TUP_FIELD_NUMBER: _ClassVar[int]
    table: str
    exists: bool
    seq_scan: int
    idx_scan: int
    n_tup_ins: int
    n_tup_upd: int
    n_tup_del: int
    n_tup_hot_upd: int
    n_live_tup: int
    def __init__(self, table: _Optional[str] = ..., exists: _Optional[bool] = ..., seq_scan: _Optional[int] = ..., idx_scan: _Optional[int] = ..., n_tup_ins: _Optional[int] = ..., n_tup_upd: _Optional[int] = ..., n_tup_del: _Optional[int] = ..., n_tup_hot_upd: _Optional[int] = ..., n_live_tup: _Optional[int] = ...) -> None: ...

class IndexStats(_message.Message):
    __slots__ = ("index", "exists", "table", "idx_scan", "idx_tup_read", "size_bytes")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    IDX_SCAN_FIELD_NUMBER: _ClassVar[int]
    IDX_TUP_READ_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    index: str
    exists: bool
    table: str
    idx_scan: int
    idx_tup_read: int
    size_bytes: int
    def __init__(self, index: _Optional[str] = ..., exists: _Optional[bool] = ..., table: _Optional[str] = ..., idx_scan: _Optional[int] = ..., idx_tup_read: _Optional[int] = ..., size_bytes: _Optional[int] = ...) -> None: ...
