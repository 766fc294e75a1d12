"""Turning a chosen index set into complete advice: SQL, rollback, sizes, improvements,
per-query impacts, evidence plans, confidence, risk and fingerprint.

Improvements are relative to the workload cost with no new index. Each advice's marginal
improvement is what it adds on top of the advice listed before it, so the marginals add up
to the whole set's improvement.
"""

from __future__ import annotations

import json
from typing import Any

from optimizer_service import costs, redact, sqltext
from optimizer_service.costs import CostModel
from optimizer_service.model import (
    Advice,
    Evidence,
    IndexDef,
    Kind,
    ParamMode,
    QueryImpact,
    Risk,
)
from optimizer_service.settings import TargetConfig

MAX_TEXT = 2000
MAX_EVIDENCE = 3
LARGE_INDEX = 1 << 30
_CONFIDENCE = {ParamMode.LITERAL: 0.9, ParamMode.PG_STATS: 0.8, ParamMode.GENERIC: 0.65}


def percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 4) if whole > 0 else 0.0


def _plan_text(plan: Any, names: dict[str, str], show_values: bool) -> str:
    text = json.dumps(plan if show_values else redact.plan(plan), indent=1, sort_keys=True)
    for engine_name, ours in names.items():
        text = text.replace(json.dumps(engine_name)[1:-1], ours)
    return text


async def for_creates(
    model: CostModel, sizes: dict[IndexDef, int], chosen: list[IndexDef], target: TargetConfig
) -> list[Advice]:
    """One CREATE INDEX advice per chosen index, in the order given."""
    base = await model.total(frozenset())

    result = []
    for k, index in enumerate(chosen):
        before_set, after_set = frozenset(chosen[:k]), frozenset(chosen[: k + 1])
        before_total, after_total = await model.total(before_set), await model.total(after_set)
        alone = await model.total(frozenset([index]))
        impacts, evidence, savings = [], [], []
        for stmt in model.statements:
            before = await model.evaluate(stmt, before_set)
            after = await model.evaluate(stmt, after_set)
            uses = index in after.used or costs.project(stmt, index) in after.used
            if not uses and after.cost >= before.cost:
                continue
            impacts.append(
                QueryImpact(
                    query_id=stmt.query_id,
                    text=stmt.query.text[:MAX_TEXT],
                    cost_before=before.cost,
                    cost_after=after.cost,
                    weight=stmt.weight,
                    mode=stmt.mode,
                )
            )
            savings.append(
                (
                    not uses,
                    -stmt.weight * (before.cost - after.cost),
                    stmt.query_id,
                    before,
                    after,
                    stmt,
                )
            )
        # Evidence leads with plans that use the index, biggest saving first: what a
        # reviewer needs to see is the index at work.
        savings.sort(key=lambda s: (s[0], s[1], s[2]))
        ours = sqltext.index_name(index)
        for _, _, query_id, before, after, stmt in savings[:MAX_EVIDENCE]:
            # The cost model may have planned this statement with the index's projection
            # (the part of it the statement can use): name that one as the advice does too.
            projected = costs.project(stmt, index)
            after_names = {
                name: ours if d in (index, projected) else sqltext.index_name(d)
                for name, d in after.names
            }
            before_names = {name: sqltext.index_name(d) for name, d in before.names}
            evidence.append(
                Evidence(
                    query_id,
                    _plan_text(before.plan, before_names, target.show_values),
                    _plan_text(after.plan, after_names, target.show_values),
                )
            )
        writes = model.write_rows.get(index.table, 0.0)
        size = sizes.get(index, 0)
        marginal = percent(before_total - after_total, base)
        modes = {i.mode for i in impacts} or {ParamMode.LITERAL}
        confidence = min(_CONFIDENCE.get(m, 0.65) for m in modes)
        if marginal < 1.0:
            confidence *= 0.7
        notes = [
            "CREATE INDEX CONCURRENTLY does not block reads or writes but takes longer; if it "
            "fails it leaves an INVALID index, which the rollback SQL removes."
        ]
        risk = Risk.LOW
        if writes > 0:
            risk = Risk.MEDIUM
            notes.append(
                f"{index.table} has about {int(writes)} modified rows in the window; each "
                "write now also maintains this index."
            )
        if size > LARGE_INDEX:
            risk = Risk.MEDIUM
            notes.append("The index is large: the build takes a while and needs the disk space.")
        cols = ", ".join(index.columns)
        used_by = sum(1 for i in impacts if i.cost_after < i.cost_before)
        rationale = (
            f"Chosen for the whole workload: lowers its estimated cost by {marginal:.2f}% on top "
            f"of the advice before it ({percent(base - alone, base):.2f}% on its own), helping "
            f"{used_by} of {len(model.statements)} queries. Key order ({cols}): equality "
            "columns first, most selective first, then range or sort columns."
        )
        if index.include:
            rationale += f" INCLUDE ({', '.join(index.include)}) allows index-only scans."
        result.append(
            Advice(
                kind=Kind.CREATE_INDEX,
                title=f"Index on {sqltext.describe(index)}",
                rationale=rationale,
                tables=(str(index.table),),
                columns=tuple((str(index.table), c) for c in (*index.columns, *index.include)),
                sql=sqltext.create_sql(index),
                rollback_sql=sqltext.drop_sql(index.table.schema, sqltext.index_name(index)),
                size_bytes=size,
                workload_improvement=percent(base - alone, base),
                marginal_improvement=marginal,
                impacts=tuple(impacts),
                confidence=round(confidence, 3),
                risk=risk,
                risk_notes=" ".join(notes),
                evidence=tuple(evidence),
                fingerprint=sqltext.create_fingerprint(index),
                verified=used_by > 0,
                verification=(
                    f"what-if ({model.engine.name}): the plans of {used_by} workload queries "
                    "use the index and get cheaper"
                ),
                write_overhead=costs.WRITE_COST_PER_ROW,
            )
        )
    return result


def recommendations(created: list[Advice], dropped: list[Advice]) -> tuple[str, ...]:
    out = []
    if created:
        total = sum(a.marginal_improvement for a in created)
        out.append(
            f"Create {len(created)} index(es) for an estimated {total:.1f}% lower workload cost; "
            "benchmark them on a sandbox first."
        )
    if dropped:
        freed = sum(a.size_bytes for a in dropped)
        out.append(
            f"Drop {len(dropped)} unused or duplicate index(es) to free about "
            f"{freed // (1 << 20)} MiB and cheapen writes."
        )
    if not created and not dropped:
        out.append("No index change is worth making for this workload.")
    return tuple(out)
