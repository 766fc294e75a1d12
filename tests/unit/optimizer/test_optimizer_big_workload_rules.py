"""The pure rules behind big workloads: coverage-based cuts of a workload, statements left
out grouped by reason, the selection's progress and a binding max_indexes, and the option
and summary fields that carry them between the services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from test_optimizer_selection import HELPFUL, USELESS, WORKLOAD, FakeCostModel, extension, limits

from job_service import domain
from job_service import mappers as job_service_mappers
from job_service import optimizer_mappers as job_mappers
from optimizer_service import findings, mappers, planning
from optimizer_service.model import Query, Source, Window, Workload
from optimizer_service.selection import Selector
from optimizer_service.workload import cover, coverage, with_totals
from pgsage import errors
from pgsage.jobs.v1 import job_pb2, job_service_pb2
from pgsage.optimizer.v1 import advice_pb2, analysis_pb2


def q(query_id: str, ms: float) -> Query:
    return Query(query_id, f"SELECT {query_id}", 1, ms, 1.0, 0)


def test_cover_takes_the_top_statements_by_time_until_the_share_in_their_own_order():
    queries = [q("a", 1), q("b", 50), q("c", 30), q("d", 15), q("e", 4)]
    assert [x.query_id for x in cover(queries, 95, 100)] == ["b", "c", "d"]
    assert [x.query_id for x in cover(queries, 80, 100)] == ["b", "c"]
    assert [x.query_id for x in cover(queries, 100, 100)] == ["a", "b", "c", "d", "e"]
    # max_queries caps it, whatever the share.
    assert [x.query_id for x in cover(queries, 100, 2)] == ["b", "c"]
    # Ties go by id, so the same workload always gives the same cut.
    tied = [q("z", 10), q("y", 10), q("x", 10)]
    assert [x.query_id for x in cover(tied, 50, 100)] == ["y", "x"]
    # No times: the first max_queries, as before.
    assert [x.query_id for x in cover([q("a", 0), q("b", 0)], 95, 1)] == ["a"]


def test_cover_against_the_total_of_a_source_larger_than_the_rows_read():
    # pg_stat_statements read only the top rows; the total counts every statement.
    top = [q("a", 60), q("b", 20)]
    assert [x.query_id for x in cover(top, 95, 100, total_time_ms=100)] == ["a", "b"]


def test_coverage_reports_share_left_out_and_whether_max_queries_stopped_it():
    w = Workload(Source.PG_STAT_STATEMENTS, (q("a", 60), q("b", 20)), Window(None, None), 10, 100)
    c = coverage(w, 95, 2)
    assert c is not None
    assert (c.percent, c.analysed, c.total, c.left_out, c.capped) == (80.0, 2, 10, 8, True)
    assert not coverage(w, 95, 3).capped  # type: ignore[union-attr]
    assert not coverage(w, 80, 2).capped  # type: ignore[union-attr]
    untimed = Workload(Source.REQUEST, (q("a", 0),), Window(None, None))
    assert coverage(untimed, 95, 100) is None


def test_with_totals_cuts_a_given_workload_once_and_keeps_a_replays_totals():
    given = Workload(Source.REQUEST, (q("a", 1), q("b", 99)), Window(None, None))
    cut = with_totals(given, 95, 100)
    assert [x.query_id for x in cut.queries] == ["b"]
    assert (cut.total_statements, cut.total_time_ms) == (2, 100)
    # A replay of that cut carries the totals: used exactly as it is.
    assert with_totals(cut, 100, 100) == cut
    untimed = Workload(Source.REQUEST, (q("a", 0),), Window(None, None))
    assert with_totals(untimed, 95, 100) == untimed


def test_statements_left_out_are_one_insight_grouped_by_reason():
    planned = planning.Planned(considered=20)
    for n in range(7):
        planned.skip(2, "could not be planned (SQLSTATE 42P01: undefined table)", f"m{n}")
    planned.skip(1, "not a SELECT, INSERT, UPDATE or DELETE statement", "u0")
    for n in range(4):
        planned.skip(1, planning.CATALOGS, f"c{n}")
    insight = planning.skipped_insight(planned)
    assert insight is not None
    assert (insight.severity, insight.code, insight.query_id) == (2, "QUERIES_NOT_PLANNED", "")
    assert insight.message == (
        "12 of 20 statements were not planned: "
        "7 could not be planned (SQLSTATE 42P01: undefined table) "
        "(queries m0, m1, m2, m3, m4, …); "
        "1 not a SELECT, INSERT, UPDATE or DELETE statement (query u0); "
        "4 read only system catalogs"
    )
    only_catalogs = planning.Planned(considered=3)
    only_catalogs.skip(1, planning.CATALOGS, "c0")
    skipped = planning.skipped_insight(only_catalogs)
    assert skipped is not None and skipped.severity == 1
    assert planning.skipped_insight(planning.Planned(considered=3)) is None


def test_many_reasons_are_capped_and_the_rest_counted():
    planned = planning.Planned(considered=30)
    for n in range(12):
        planned.skip(2, f"not planned: calls function public.f{n}", f"q{n}")
    insight = planning.skipped_insight(planned)
    assert insight is not None
    assert insight.message.endswith(f"; {12 - planning.SHOWN_REASONS} for other reasons")


async def test_selection_progress_moves_with_every_costing_and_never_back():
    model = FakeCostModel(WORKLOAD)
    reports: list[tuple[str, float]] = []
    selector = Selector(
        model,
        HELPFUL + USELESS,
        extension(WORKLOAD),
        limits(),
        lambda message, fraction: reports.append((message, fraction)),
    )
    chosen = await selector.select()
    assert sorted(chosen) == sorted(HELPFUL)
    fractions = [f for _, f in reports]
    assert fractions == sorted(fractions)
    assert 0.0 <= fractions[0] and fractions[-1] <= 1.0 and fractions[-1] >= 0.9
    # One report per configuration costed at least: no plateau of silent work.
    assert len(reports) >= selector.costed
    assert len(set(fractions)) > 20
    assert any(m.startswith("sizing candidate 1 of ") for m, _ in reports)


async def test_held_back_counts_worthwhile_indexes_max_indexes_kept_out():
    model = FakeCostModel(WORKLOAD)
    selector = Selector(model, HELPFUL + USELESS, extension(WORKLOAD), limits(max_indexes=2))
    chosen = await selector.select()
    assert len(chosen) == 2
    assert await selector.held_back(chosen) == 2
    # Out of budget for any other: none is held back by max_indexes.
    model = FakeCostModel(WORKLOAD)
    tight = limits(budget=2 << 20, max_indexes=2)
    selector = Selector(model, HELPFUL + USELESS, extension(WORKLOAD), tight)
    chosen = await selector.select()
    assert await selector.held_back(chosen) == 0
    model = FakeCostModel(WORKLOAD)
    selector = Selector(model, HELPFUL + USELESS, extension(WORKLOAD), limits())
    assert await selector.held_back(await selector.select()) == 0


def test_findings_texts():
    insight = findings.max_indexes_insight(20, 97 << 20, 200 << 20, 3, 0.1)
    assert insight.message == (
        "max_indexes = 20 stopped the selection at 97 MB of a 200 MB budget; 3 more "
        "index(es) would each improve the workload by at least 0.1% (raise max_indexes to "
        "see them)"
    )
    failed = findings.phase_failed("what-if", "SQLSTATE 55P03: lock not available")
    assert failed.severity == 3 and failed.code == "PHASE_FAILED"
    assert "the what-if phase (the what-if search for new indexes) could not" in failed.message
    line = findings.phases_line(["workload", "what-if"])
    assert line.startswith("Incomplete: the workload and what-if phase(s)")


def test_coverage_option_defaults_and_range():
    opts = mappers.options_from_proto(analysis_pb2.AnalysisOptions(), [])
    assert opts.coverage_percent == 95.0
    opts = mappers.options_from_proto(
        analysis_pb2.AnalysisOptions(workload_coverage_percent=80), []
    )
    assert opts.coverage_percent == 80.0
    for bad in (-1.0, 100.5):
        with pytest.raises(errors.InvalidArgument) as info:
            mappers.options_from_proto(
                analysis_pb2.AnalysisOptions(workload_coverage_percent=bad), []
            )
        assert "options.workload_coverage_percent" in str(info.value)


def test_the_job_service_passes_coverage_on_and_keeps_the_summary_fields():
    options = job_pb2.AnalysisOptions(workload_coverage_percent=90, max_queries=300)
    now = datetime.now(UTC)
    job = domain.Job(
        id=uuid.uuid4(),
        kind="ANALYZE",
        state="RUNNING",
        target="t",
        revision=1,
        create_time=now,
        update_time=now,
        analysis_types=("MISSING_INDEXES",),
        options=options.SerializeToString(),
    )
    request = job_mappers.analyze_request(job, None)
    assert request.options.workload_coverage_percent == 90
    assert request.options.max_queries == 300
    summary = advice_pb2.Summary(
        workload_coverage_percent=96.5,
        queries_left_out=1200,
        incomplete_phases=["what-if"],
        recommendations=["Incomplete: the what-if phase(s) ..."],
    )
    stored = job_mappers.summary_from_optimizer(summary, [])
    assert stored.workload_coverage_percent == 96.5
    assert stored.queries_left_out == 1200
    assert list(stored.incomplete_phases) == ["what-if"]


def test_a_job_refuses_a_coverage_outside_0_to_100_naming_the_field():
    def create(coverage: float) -> object:
        job = job_pb2.Job(
            target="t", options=job_pb2.AnalysisOptions(workload_coverage_percent=coverage)
        )
        return job_service_mappers.new_job(job_service_pb2.CreateJobRequest(job=job), 3)

    new, _ = create(90)  # type: ignore[misc]
    assert job_pb2.AnalysisOptions.FromString(new.options).workload_coverage_percent == 90
    for bad in (-5.0, 101.0):
        with pytest.raises(errors.InvalidArgument) as info:
            create(bad)
        assert info.value.metadata["field"] == "job.options.workload_coverage_percent"
