"""Domain objects of an analysis: small frozen dataclasses, mapped to protos in `mappers`.

Identifiers are kept unquoted (as PostgreSQL's catalog spells them) and quoted only when
SQL is rendered (`sqltext`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class ParamMode(enum.IntEnum):
    """How `$n` parameters were planned (values equal the proto's ParameterMode)."""

    UNSPECIFIED = 0
    LITERAL = 1
    GENERIC = 2
    PG_STATS = 3


class Source(enum.IntEnum):
    """Where a workload came from (values equal the proto's WorkloadSource)."""

    UNSPECIFIED = 0
    PG_STAT_STATEMENTS = 1
    REQUEST = 2
    REPLAY = 3


class Kind(enum.IntEnum):
    """What an advice does (values equal the proto's AdviceKind)."""

    UNSPECIFIED = 0
    CREATE_INDEX = 1
    DROP_UNUSED_INDEX = 2
    DROP_DUPLICATE_INDEX = 3


class Risk(enum.IntEnum):
    UNSPECIFIED = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


@dataclass(frozen=True, order=True)
class Table:
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True, order=True)
class IndexDef:
    """A btree index the optimizer may suggest: key columns in order, then INCLUDE columns."""

    table: Table
    columns: tuple[str, ...]
    include: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return len(self.columns)

    def extended(self, column: str) -> IndexDef:
        return IndexDef(self.table, (*self.columns, column), self.include)


@dataclass(frozen=True)
class Query:
    """One workload statement, as it arrived (pg_stat_statements, request or replay)."""

    query_id: str
    text: str
    calls: int
    total_time_ms: float
    weight: float
    rows: int


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Workload:
    source: Source
    queries: tuple[Query, ...]
    window: Window
    # How many statements the source held and their total time (`queries` are the analysed
    # part of them); 0 when the source gives no times.
    total_statements: int = 0
    total_time_ms: float = 0.0


@dataclass(frozen=True)
class Insight:
    severity: int  # 1 info, 2 warning, 3 error (the proto's Severity)
    code: str
    message: str
    query_id: str = ""


@dataclass(frozen=True)
class Progress:
    stage: str
    percent: float
    message: str


@dataclass(frozen=True)
class QueryImpact:
    query_id: str
    text: str
    cost_before: float
    cost_after: float
    weight: float
    mode: ParamMode


@dataclass(frozen=True)
class Evidence:
    query_id: str
    plan_before: str
    plan_after: str


@dataclass(frozen=True)
class Advice:
    """One finished suggestion, complete on its own."""

    kind: Kind
    title: str
    rationale: str
    tables: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    sql: str
    rollback_sql: str
    size_bytes: int
    workload_improvement: float
    marginal_improvement: float
    impacts: tuple[QueryImpact, ...]
    confidence: float
    risk: Risk
    risk_notes: str
    evidence: tuple[Evidence, ...]
    fingerprint: str
    verified: bool
    verification: str
    write_overhead: float = 0.0


@dataclass(frozen=True)
class Summary:
    fingerprints: tuple[str, ...]
    cost_before: float
    cost_after: float
    improvement: float
    added_bytes: int
    freed_bytes: int
    queries_analyzed: int
    insights: int
    recommendations: tuple[str, ...]
    what_if_calls: int
    what_if_cache_hits: int
    coverage_percent: float = 0.0
    queries_left_out: int = 0
    incomplete_phases: tuple[str, ...] = ()
    max_indexes_reached: bool = False


@dataclass(frozen=True)
class Options:
    """Tunables of one analysis, defaults already applied."""

    storage_budget_bytes: int
    max_indexes: int
    max_queries: int
    min_improvement_percent: float
    max_index_columns: int
    parameter_mode: ParamMode
    analyses: frozenset[int] = field(default_factory=lambda: frozenset({1, 2, 3}))
    # Share (percent) of the workload's total time the analysed statements cover.
    coverage_percent: float = 95.0
