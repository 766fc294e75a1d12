"""Unused and duplicate (or prefix-covered) indexes, each drop verified where that is safe.

Never suggested: primary-key, unique, exclusion or constraint-backing indexes, and invalid
ones. A duplicate is an index whose key columns are a prefix of (or equal to) another valid
index's on the same table, with the same access method and predicate and no INCLUDE column
the other lacks; of two equal ones the one with fewer scans goes (then the later name).

Verification, in order of preference: HypoPG ≥ 1.4 hides the index and the workload is
re-planned; on a transactional target a DROP INDEX inside a transaction that is rolled back
(short lock_timeout) and a re-plan; otherwise, when no workload plan uses the index,
dropping it cannot change those plans, and the advice says so; else it is unverified.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from optimizer_service import errors, explain, plans, redact, sqltext, targets
from optimizer_service.catalog import ExistingIndex
from optimizer_service.model import (
    Advice,
    Evidence,
    Kind,
    QueryImpact,
    Risk,
    Window,
)
from optimizer_service.settings import TargetConfig
from pgsage import sqlcheck

log = logging.getLogger(__name__)

SHORT_WINDOW = timedelta(days=7)
WORSE = 1.01  # a plan more than 1 % dearer without the index counts as worse


@dataclass(frozen=True)
class Check:
    verified: bool
    how: str
    impacts: tuple[QueryImpact, ...] = ()
    evidence: tuple[Evidence, ...] = ()


class DropFinder:
    def __init__(
        self,
        *,
        conn: asyncpg.Connection,
        target: TargetConfig,
        caps: targets.Capabilities,
        statements: list[explain.Statement],
        existing: list[ExistingIndex],
        window: Window,
        analyses: frozenset[int],
        engine_name: str,
    ) -> None:
        self.conn = conn
        self.target = target
        self.caps = caps
        self.statements = statements
        self.existing = existing
        self.window = window
        self.analyses = analyses
        self.engine_name = engine_name

    def duplicates(self) -> list[tuple[ExistingIndex, ExistingIndex]]:
        """(index to drop, index that covers it), in a deterministic order."""
        found: list[tuple[ExistingIndex, ExistingIndex]] = []
        dropped: set[int] = set()
        valid = [i for i in self.existing if i.is_valid]
        for a in sorted(valid, key=lambda i: (i.table, i.name)):
            if a.protected or a.oid in dropped:
                continue
            for b in sorted(valid, key=lambda i: (i.table, i.name)):
                if b.oid == a.oid or b.oid in dropped or b.table != a.table or b.am != a.am:
                    continue
                if b.predicate != a.predicate or b.keys[: len(a.keys)] != a.keys:
                    continue
                if not set(a.include) <= set(b.keys) | set(b.include):
                    continue
                if a.keys == b.keys and not b.protected and set(b.include) <= set(a.include):
                    # Equal twins: keep the one with more scans (then the earlier name).
                    if (a.idx_scan, b.name) > (b.idx_scan, a.name):
                        continue
                found.append((a, b))
                dropped.add(a.oid)
                break
        return found

    async def stats_reset(self) -> datetime | None:
        if self.window.start is not None:
            return self.window.start
        return await self.conn.fetchval(
            "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"
        )

    def used_by_plans(self, index: ExistingIndex) -> list[explain.Statement]:
        return [
            s
            for s in self.statements
            if s.plan and index.name in plans.indexes_used(plans.root(s.plan))
        ]

    async def _replan(self, index: ExistingIndex) -> Check:
        impacts: list[QueryImpact] = []
        evidence: list[Evidence] = []
        worse: list[str] = []
        for stmt in self.statements:
            if stmt.facts is None or index.table not in stmt.facts.tables:
                continue
            plan = await explain.explain(self.conn, stmt, self.caps.server_version_num)
            before, after = stmt.facts.cost, float(plans.root(plan)["Total Cost"])
            if abs(after - before) > 1e-9:
                impacts.append(
                    QueryImpact(
                        stmt.query_id, stmt.query.text[:2000], before, after, stmt.weight, stmt.mode
                    )
                )
                if len(evidence) < 3:
                    shown = self.target.show_values
                    evidence.append(
                        Evidence(stmt.query_id, _dump(stmt.plan, shown), _dump(plan, shown))
                    )
            if after > before * WORSE:
                worse.append(stmt.query_id)
        if worse:
            return Check(
                False,
                f"without the index {len(worse)} workload queries get dearer plans "
                f"({', '.join(worse[:5])})",
                tuple(impacts),
                tuple(evidence),
            )
        return Check(True, "", tuple(impacts), tuple(evidence))

    async def verify(self, index: ExistingIndex) -> Check:
        if self.caps.hypopg_can_hide and self.caps.hypopg_version:
            await self.conn.execute("SELECT hypopg_hide_index($1)", index.oid)
            try:
                check = await self._replan(index)
            finally:
                await self.conn.execute("SELECT hypopg_unhide_index($1)", index.oid)
            how = "HypoPG hid the index and the workload was re-planned"
            return Check(check.verified, check.how or how, check.impacts, check.evidence)
        if self.engine_name == "transactional":
            name = f"{sqlcheck.quote_ident(index.table.schema)}.{sqlcheck.quote_ident(index.name)}"
            await self.conn.execute("BEGIN READ WRITE")  # always rolled back
            try:
                await self.conn.execute(f"DROP INDEX {name}")
                check = await self._replan(index)
            except asyncpg.PostgresError as exc:
                if not errors.refused(exc, timeouts=True):  # lock_timeout: left unverified
                    raise
                return Check(
                    False,
                    "unverified: the rolled-back DROP failed: "
                    + errors.from_target(exc, "rolled-back drop"),
                )
            finally:
                await self.conn.execute("ROLLBACK")
            how = "a DROP INDEX inside a rolled-back transaction, then the workload re-planned"
            return Check(check.verified, check.how or how, check.impacts, check.evidence)
        users = self.used_by_plans(index)
        if not users:
            return Check(
                True,
                "no workload plan uses the index, so dropping it cannot change those plans "
                "(no what-if engine here can hide an index)",
            )
        return Check(
            False,
            f"unverified: {len(users)} workload plans use the index and this target has no "
            "safe what-if for a drop (HypoPG < 1.4, not transactional)",
        )

    async def find(self) -> list[Advice]:
        result: list[Advice] = []
        dup_oids: set[int] = set()
        # An index that makes another redundant is kept, whatever its scan count.
        keepers: set[int] = set()
        if 3 in self.analyses:
            for a, b in self.duplicates():
                dup_oids.add(a.oid)
                keepers.add(b.oid)
                check = await self.verify(a)
                what = "duplicates" if a.keys == b.keys else "is a prefix of"
                result.append(
                    self._advice(
                        a,
                        Kind.DROP_DUPLICATE_INDEX,
                        check,
                        0.9 if check.verified else 0.6,
                        f"{a.name} ({', '.join(a.keys)}) {what} {b.name} "
                        f"({', '.join(b.keys)}) on the same table: {b.name} serves every "
                        f"lookup {a.name} serves, so {a.name} only costs space and writes.",
                    )
                )
        if 2 in self.analyses:
            reset = await self.stats_reset()
            for index in sorted(self.existing, key=lambda i: (i.table, i.name)):
                if index.protected or not index.is_valid or index.oid in dup_oids | keepers:
                    continue
                if index.idx_scan > 0 or self.used_by_plans(index):
                    continue
                check = await self.verify(index)
                confidence, window_note = _window_confidence(reset)
                if not check.verified:
                    confidence *= 0.7
                result.append(
                    self._advice(
                        index,
                        Kind.DROP_UNUSED_INDEX,
                        check,
                        confidence,
                        f"{index.name} has had no scan {window_note}. It costs "
                        f"{index.size} bytes and work on every write to {index.table}.",
                    )
                )
        return result

    def _advice(
        self, index: ExistingIndex, kind: Kind, check: Check, confidence: float, why: str
    ) -> Advice:
        notes = (
            "DROP INDEX CONCURRENTLY does not block reads or writes. A query that needed "
            "the index outside the analysed workload would get slower; the rollback SQL "
            "rebuilds it."
        )
        return Advice(
            kind=kind,
            title=f"Drop {'duplicate' if kind == Kind.DROP_DUPLICATE_INDEX else 'unused'} "
            f"index {index.table.schema}.{index.name}",
            rationale=why,
            tables=(str(index.table),),
            columns=tuple((str(index.table), c) for c in (*index.keys, *index.include)),
            sql=sqltext.drop_sql(index.table.schema, index.name),
            rollback_sql=sqltext.concurrent_indexdef(index.indexdef),
            size_bytes=index.size,
            workload_improvement=0.0,
            marginal_improvement=0.0,
            impacts=check.impacts,
            confidence=round(confidence, 3),
            risk=Risk.LOW if check.verified else Risk.MEDIUM,
            risk_notes=notes,
            evidence=check.evidence,
            fingerprint=sqltext.fingerprint(
                kind, index.table, list(index.keys), list(index.include), index.predicate
            ),
            verified=check.verified,
            verification=check.how,
        )


def _window_confidence(reset: datetime | None) -> tuple[float, str]:
    if reset is None:
        return 0.3, "since the statistics began (their start is unknown)"
    age = datetime.now(UTC) - reset
    days = age.total_seconds() / 86400
    if age < SHORT_WINDOW:
        return 0.4, f"in the {days:.1f} days since the statistics were reset (a short window)"
    return 0.8, f"in the {days:.0f} days since the statistics were reset"


def _dump(plan: object, show_values: bool) -> str:
    return json.dumps(plan if show_values else redact.plan(plan), indent=1, sort_keys=True)
