"""The vocabulary and its transition table, and the SQL that must agree with it.

The last group reads every state-changing statement of the job service's modules (parsed by
PostgreSQL's own parser, pglast), works out which states each may move a row from and to —
its guard, and its `CASE` evaluated per source state — and checks every move against the
table. A new statement, or a changed guard, that allows a move the table does not is caught
here, before any database sees it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from types import ModuleType

import pglast
import pytest
from pglast import ast
from pglast.enums import A_Expr_Kind, BoolExprType

import job_service
from job_service import errors as job_errors
from job_service import models
from job_service import vocabulary as v
from job_service.vocabulary import JobState as J
from job_service.vocabulary import SuggestionState as S
from pgsage.jobs.v1 import job_pb2, suggestion_pb2

# What the code does (its guarded statements), written out independently of the table.
JOB_MOVES = {
    (J.PENDING, J.RUNNING),  # claimed
    (J.PENDING, J.CANCELLED),  # cancelled before it ran
    (J.RUNNING, J.CANCELLING),  # cancel asked while it runs
    (J.RUNNING, J.SUCCEEDED),
    (J.RUNNING, J.FAILED),  # refused, or its last attempt broke
    (J.RUNNING, J.PENDING),  # requeued: stream broke, lease lapsed, shutdown
    (J.CANCELLING, J.SUCCEEDED),  # the outcome came before the cancel was seen
    (J.CANCELLING, J.FAILED),
    (J.CANCELLING, J.CANCELLED),
    (J.FAILED, J.PENDING),  # RetryJob
    (J.CANCELLED, J.PENDING),  # RetryJob
}
SUGGESTION_MOVES = {
    (S.PENDING, S.APPROVED),
    (S.PENDING, S.DISMISSED),
    (S.APPROVED, S.PENDING),  # its statement was edited
    (S.APPROVED, S.APPLYING),
    (S.APPLY_FAILED, S.APPLYING),  # retry the apply
    (S.ROLLED_BACK, S.APPLYING),  # apply again
    (S.APPLYING, S.APPLIED),
    (S.APPLYING, S.APPLY_FAILED),
    (S.APPLIED, S.ROLLING_BACK),
    (S.ROLLBACK_FAILED, S.ROLLING_BACK),  # retry the rollback
    (S.ROLLING_BACK, S.ROLLED_BACK),
    (S.ROLLING_BACK, S.ROLLBACK_FAILED),
    (S.APPLYING, S.APPROVED),  # its build was cancelled and dropped
    (S.ROLLING_BACK, S.APPLIED),  # the recreating build was cancelled and dropped
}


def _proto_names(enum: object) -> set[str]:
    return {n for n in enum.keys() if not n.endswith("_UNSPECIFIED")}  # type: ignore[attr-defined]


def test_the_vocabulary_is_the_apis_and_the_schemas():
    """Members are the proto enum names (what the API shows and the database stores)."""
    assert set(v.JobState) == _proto_names(job_pb2.Job.State)
    assert set(v.JobKind) == _proto_names(job_pb2.Job.Kind)
    assert set(v.SuggestionState) == _proto_names(suggestion_pb2.Suggestion.State)
    assert set(v.SuggestionKind) == _proto_names(suggestion_pb2.Suggestion.Kind)
    checks = {
        c.name: str(c.sqltext)
        for t in models.metadata.tables.values()
        for c in t.constraints
        if c.name and c.name.startswith("ck_")
    }
    assert checks["ck_job_state"] == models.sql_in("state", v.JobState)
    assert checks["ck_suggestion_state"] == models.sql_in("state", v.SuggestionState)
    assert checks["ck_job_state"].count("'") == 2 * len(v.JobState)
    assert f"{J.CANCELLING}" == "CANCELLING" and J.CANCELLING == "CANCELLING"


@pytest.mark.parametrize(("source", "target"), sorted(JOB_MOVES))
def test_every_job_move_the_code_makes_is_allowed(source, target):
    assert v.JOBS.allows(source, target)


@pytest.mark.parametrize(("source", "target"), sorted(SUGGESTION_MOVES))
def test_every_suggestion_move_the_code_makes_is_allowed(source, target):
    assert v.SUGGESTIONS.allows(source, target)


def test_the_tables_allow_nothing_else():
    assert v.JOBS.pairs == JOB_MOVES
    assert v.SUGGESTIONS.pairs == SUGGESTION_MOVES


@pytest.mark.parametrize(
    ("lifecycle", "source", "target"),
    [
        (v.JOBS, J.SUCCEEDED, J.PENDING),  # a success is never retried
        (v.JOBS, J.PENDING, J.SUCCEEDED),  # nothing ends without running
        (v.JOBS, J.PENDING, J.CANCELLING),  # nothing runs there to stop
        (v.JOBS, J.CANCELLED, J.RUNNING),  # a retry waits to be claimed
        (v.JOBS, J.CANCELLING, J.PENDING),  # a cancelled run is never requeued
        (v.JOBS, J.RUNNING, J.CANCELLED),  # it passes CANCELLING
        (v.JOBS, J.FAILED, J.SUCCEEDED),
        (v.SUGGESTIONS, S.PENDING, S.APPLYING),  # never applied without approval
        (v.SUGGESTIONS, S.DISMISSED, S.APPROVED),
        (v.SUGGESTIONS, S.APPLIED, S.APPLYING),  # never applied twice
        (v.SUGGESTIONS, S.APPLIED, S.PENDING),  # an applied change is not edited
        (v.SUGGESTIONS, S.ROLLED_BACK, S.ROLLING_BACK),
        (v.SUGGESTIONS, S.APPLY_FAILED, S.ROLLING_BACK),
        (v.SUGGESTIONS, S.APPROVED, S.APPLIED),  # only through APPLYING
    ],
)
def test_refused_moves(lifecycle, source, target):
    assert not lifecycle.allows(source, target)


def test_final_states_have_no_exits_but_a_retry():
    assert v.JOBS.targets(J.SUCCEEDED) == ()
    assert v.SUGGESTIONS.targets(S.DISMISSED) == ()
    for state in v.FINISHED_JOB_STATES:
        assert set(v.JOBS.targets(state)) <= {J.PENDING}
        assert v.JOBS.targets(state) == v.JOBS.targets(state, v.JobAction.RETRY)
    assert set(v.FINISHED_JOB_STATES) == {J.SUCCEEDED, J.FAILED, J.CANCELLED}


@pytest.mark.parametrize("lifecycle", [v.JOBS, v.SUGGESTIONS])
def test_every_state_is_reachable(lifecycle):
    seen, todo = set(lifecycle.initial), list(lifecycle.initial)
    while todo:
        for target in lifecycle.targets(todo.pop()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert seen == set(lifecycle.states)


def test_every_job_can_finish():
    for state in v.LIVE_JOB_STATES:
        seen, todo = {state}, [state]
        while todo:
            for target in v.JOBS.targets(todo.pop()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        assert seen & set(v.FINISHED_JOB_STATES), state


def test_the_derived_sets():
    assert v.LEASED_JOB_STATES == (J.RUNNING, J.CANCELLING)
    assert v.LIVE_JOB_STATES == (J.PENDING, J.RUNNING, J.CANCELLING)
    assert v.CANCELLABLE_JOB_STATES == (J.PENDING, J.RUNNING)
    assert v.RETRYABLE_JOB_STATES == (J.FAILED, J.CANCELLED)
    assert v.APPLICABLE_STATES == (S.APPROVED, S.APPLY_FAILED, S.ROLLED_BACK)
    assert v.ROLLBACKABLE_STATES == (S.APPLIED, S.ROLLBACK_FAILED)
    assert v.EDITABLE_STATES == (S.PENDING, S.APPROVED)
    assert set(v.DECIDED_STATES) == set(S) - {S.PENDING}
    # On the target: what an APPLY may have built and nothing has taken away yet.
    assert set(v.LIVE_SUGGESTION_STATES) == (
        {*v.SUGGESTIONS.results(v.SuggestionAction.APPLY), *v.ROLLBACKABLE_STATES}
        | set(v.SUGGESTIONS.results(v.SuggestionAction.ROLL_BACK))
    )
    assert v.CHANGE_JOB_KINDS == (v.JobKind.BENCHMARK, v.JobKind.APPLY, v.JobKind.ROLLBACK)


def test_the_domain_imports_nothing_from_the_storage_layer():
    code = (
        "import sys, job_service.domain, job_service.vocabulary\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'asyncpg', 'alembic')"
        " or m in ('job_service.models', 'job_service.database')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_error_reasons_are_the_vocabularys():
    classes = [
        c
        for c in vars(job_errors).values()
        if isinstance(c, type)
        and c.__module__ == job_errors.__name__
        and "default_reason" in vars(c)
    ]
    assert len(classes) > 15
    for c in classes:
        assert isinstance(c.default_reason, v.ErrorReason), c.__name__
    assert job_errors.JobNotFound("jobs/x").reason == "JOB_NOT_FOUND"


# -- the SQL agrees with the table -----------------------------------------------------------


def _modules() -> Iterator[ModuleType]:
    for info in pkgutil.walk_packages(job_service.__path__, "job_service."):
        if ".migrations" not in info.name and not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def _strings(module: ModuleType) -> Iterator[tuple[str, str]]:
    for name, value in vars(module).items():
        if isinstance(value, str) and ("UPDATE" in value or "INSERT" in value):
            yield f"{module.__name__}.{name}", value


_LIFECYCLES = {"job": v.JOBS, "suggestion": v.SUGGESTIONS}
# What a job row's other columns say in a state: CancelJob sets cancel_requested as it moves
# RUNNING → CANCELLING (a PENDING job it cancels at once), and only RetryJob clears it; so a
# requeue's `CASE WHEN cancel_requested` never sends a CANCELLING job back to PENDING.
_FACTS = {
    ("cancel_requested", J.PENDING): False,
    ("cancel_requested", J.RUNNING): False,
    ("cancel_requested", J.CANCELLING): True,
}


@dataclass
class Moves:
    pairs: set[tuple[str, str, str, str]] = field(default_factory=set)  # where, table, from, to
    initial: set[tuple[str, str, str]] = field(default_factory=set)
    parametric: set[str] = field(default_factory=set)


def _walk(node: object) -> Iterator[ast.Node]:
    if isinstance(node, ast.Node):
        yield node
        for attr in node:
            yield from _walk(getattr(node, attr))
    elif isinstance(node, tuple):
        for item in node:
            yield from _walk(item)


def _const(node: object) -> str | None:
    if isinstance(node, ast.TypeCast):
        node = node.arg
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.String):
        return node.val.sval
    return None


def _is_state(node: object, names: set[str] | None = None) -> bool:
    """A reference to a `state` column (of the table known here by one of `names`)."""
    if not isinstance(node, ast.ColumnRef):
        return False
    parts = [f.sval for f in node.fields if isinstance(f, ast.String)]
    return parts[-1:] == ["state"] and (len(parts) == 1 or names is None or parts[0] in names)


def _listed(c: object, names: set[str] | None = None) -> set[str] | None:
    """The states of `state IN ('A', ...)` or `state = 'A'` (None: not such a predicate)."""
    if not (isinstance(c, ast.A_Expr) and _is_state(c.lexpr, names)):
        return None
    if c.kind == A_Expr_Kind.AEXPR_IN:
        found = {_const(x) for x in c.rexpr}
    elif c.kind == A_Expr_Kind.AEXPR_OP and c.name[0].sval == "=" and _const(c.rexpr):
        found = {_const(c.rexpr)}
    else:
        return None
    assert None not in found and found <= set(J) | set(S), f"unknown states {found}"
    return found  # type: ignore[return-value]


def _conjuncts(node: object) -> list[object]:
    if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
        return [c for arg in node.args for c in _conjuncts(arg)]
    return [] if node is None else [node]


def _guard(where: object, names: set[str]) -> tuple[set[str] | None, bool]:
    """The states a WHERE lets through (None: any), and whether a parameter picks them."""
    allowed: set[str] | None = None
    by_parameter = False
    for c in _conjuncts(where):
        found = _listed(c, names)
        if found is not None:
            allowed = found if allowed is None else allowed & found
        elif isinstance(c, ast.A_Expr) and _is_state(c.lexpr, names):
            by_parameter |= c.kind == A_Expr_Kind.AEXPR_OP_ANY
    return allowed, by_parameter


def _truth(cond: object, source: str) -> bool | None:
    """A CASE condition for a row in `source` (None: it depends on something else)."""
    if isinstance(cond, ast.ColumnRef):
        return _FACTS.get((cond.fields[-1].sval, source))
    listed = _listed(cond)
    if listed is not None:
        return source in listed
    if isinstance(cond, ast.BoolExpr):
        values = [_truth(a, source) for a in cond.args]
        if cond.boolop == BoolExprType.AND_EXPR:
            return False if False in values else (True if all(values) else None)
        if cond.boolop == BoolExprType.OR_EXPR:
            return True if True in values else (None if None in values else False)
        return None if values[0] is None else not values[0]
    return None


def _results(expr: object, source: str) -> set[str] | None:
    """What `state = expr` may set for a row in `source` (None: a parameter decides)."""
    if _const(expr) is not None:
        return {_const(expr)}  # type: ignore[arg-type]
    if _is_state(expr):
        return {source}  # unchanged
    if isinstance(expr, ast.ParamRef | ast.TypeCast):
        return None
    assert isinstance(expr, ast.CaseExpr), f"cannot read `state = {expr}`"
    out: set[str] = set()
    for when in expr.args:
        if expr.arg is not None:
            assert _is_state(expr.arg), f"cannot read CASE {expr.arg}"
            hit: bool | None = _const(when.expr) == source
        else:
            hit = _truth(when.expr, source)
        if hit is not False:
            out |= _results(when.result, source) or set()
        if hit:
            return out
    return out | (_results(expr.defresult, source) or set())


def _names(from_clause: object, table: str) -> set[str]:
    """How `table` is known in a FROM clause (empty: it is not read there)."""
    return {
        n
        for r in _walk(from_clause)
        if isinstance(r, ast.RangeVar) and r.relname == table
        for n in (r.relname, r.alias.aliasname if r.alias else r.relname)
    }


def _update(where: str, u: ast.UpdateStmt, root: object, moves: Moves) -> None:
    table = u.relation.relname
    target = next((t.val for t in u.targetList if t.name == "state"), None)
    if table not in _LIFECYCLES or target is None:
        return
    lifecycle = _LIFECYCLES[table]
    allowed, by_parameter = _guard(u.whereClause, _names(u.relation, table))
    if allowed is None and not by_parameter:
        # Guarded by the rows a locking SELECT picked (FOR UPDATE): its WHERE is the guard.
        for sel in _walk(root):
            if isinstance(sel, ast.SelectStmt) and sel.lockingClause:
                names = _names(sel.fromClause, table)
                if names:
                    found, _ = _guard(sel.whereClause, names)
                    if found is not None:
                        allowed = found if allowed is None else allowed & found
    for source in sorted(allowed if allowed is not None else set(lifecycle.states)):
        results = _results(target, source)
        if results is None:  # the caller names the state; a guard must still keep finals out
            moves.parametric.add(where)
            assert by_parameter or lifecycle.targets(source), f"{where} moves {source}"
            continue
        moves.pairs |= {(where, table, source, r) for r in results if r != source}


def _insert(where: str, i: ast.InsertStmt, moves: Moves) -> None:
    table = i.relation.relname
    cols = [c.name for c in i.cols or ()]
    if table not in _LIFECYCLES or "state" not in cols:
        return
    at = cols.index("state")
    sel = i.selectStmt
    exprs = [row[at] for row in sel.valuesLists] if sel.valuesLists else [sel.targetList[at].val]
    for e in exprs:
        for part in e.args if isinstance(e, ast.CoalesceExpr) else (e,):
            if _const(part) is not None:
                moves.initial.add((where, table, _const(part)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def moves() -> Moves:
    found = Moves()
    for module in _modules():
        for where, sql in _strings(module):
            try:
                statements = pglast.parse_sql(sql)
            except pglast.parser.ParseError:
                assert not re.match(r"\s*(WITH|UPDATE|INSERT)\s", sql, re.I), where
                continue  # a fragment of a statement
            for node in _walk(statements):
                if isinstance(node, ast.UpdateStmt):
                    _update(where, node, statements, found)
                elif isinstance(node, ast.InsertStmt):
                    _insert(where, node, found)
    return found


def test_every_state_change_in_the_code_is_allowed_by_the_table(moves):
    lifecycles = _LIFECYCLES
    refused = [
        f"{where}: {table} {a} → {b}"
        for where, table, a, b in sorted(moves.pairs)
        if not lifecycles[table].allows(a, b)
    ]
    assert refused == []
    assert [m for m in sorted(moves.initial) if m[2] not in lifecycles[m[1]].initial] == []


def test_the_sql_reader_sees_the_statements(moves):
    """Not vacuous: every job move but one is spelled out by some statement and found; the
    rest take the target state as a parameter (runs.finish, changes.move, suggestions.decide)."""
    seen = {(table, a, b) for _, table, a, b in moves.pairs}
    assert {("job", a, b) for a, b in JOB_MOVES} - seen <= {("job", J.CANCELLING, J.FAILED)}
    assert {
        ("suggestion", S.APPROVED, S.PENDING),
        ("suggestion", S.APPLYING, S.APPLY_FAILED),
        ("suggestion", S.ROLLING_BACK, S.ROLLBACK_FAILED),
    } <= seen
    assert ("job", J.PENDING) in {(table, state) for _, table, state in moves.initial}
    assert any(where.endswith("suggestions._DECIDE") for where in moves.parametric)


def test_no_module_keeps_its_own_copy_of_a_state_set():
    """A module-level set of states or kinds is one the vocabulary names, not a variant."""
    named = {
        frozenset(value)
        for value in vars(v).values()
        if isinstance(value, tuple) and value and all(isinstance(x, StrEnum) for x in value)
    }
    names = set(J) | set(S) | set(v.JobKind) | set(v.SuggestionKind)
    stray = [
        f"{module.__name__}.{name}"
        for module in _modules()
        if module.__name__ != v.__name__
        for name, value in vars(module).items()
        if isinstance(value, tuple | set | frozenset)
        and len(value) > 1
        and all(isinstance(x, str) and x in names for x in value)
        and frozenset(value) not in named
    ]
    assert stray == []
