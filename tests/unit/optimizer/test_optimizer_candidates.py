"""Candidate column order, and which existing indexes count as duplicates."""

from __future__ import annotations

from optimizer_service import candidates
from optimizer_service.catalog import ColumnStats, ExistingIndex
from optimizer_service.drops import DropFinder
from optimizer_service.model import IndexDef, Table, Window
from optimizer_service.plans import ColumnUse

T = Table("public", "t")


def stats(**n_distinct: float) -> dict[tuple[Table, str], ColumnStats]:
    return {(T, col): ColumnStats(n_distinct=nd, null_frac=0) for col, nd in n_distinct.items()}


def test_equality_columns_lead_most_selective_first_then_one_range_column():
    used = {"status", "tenant", "created"}
    use = ColumnUse(eq={"status", "tenant"}, range={"created"}, used=used)
    found = candidates.for_table(T, use, stats(status=5, tenant=900, created=1e6), width=3)
    assert IndexDef(T, ("tenant", "status", "created")) in found
    assert not any(i.columns[0] == "created" and i.width > 1 for i in found)
    assert {IndexDef(T, (c,)) for c in ("status", "tenant", "created")} <= found


def test_an_existing_index_with_the_same_leading_columns_provides_a_candidate():
    existing = [index("t_a_b", ("a", "b"))]
    assert candidates.provided(IndexDef(T, ("a",)), existing)
    assert candidates.provided(IndexDef(T, ("a", "b")), existing)
    assert not candidates.provided(IndexDef(T, ("b",)), existing)
    assert not candidates.provided(IndexDef(T, ("a", "c")), existing)


def index(name, keys, *, unique=False, primary=False, constraint=False, scans=0, include=()):
    return ExistingIndex(
        table=T,
        name=name,
        oid=abs(hash(name)) % 100000,
        indexdef=f"CREATE INDEX {name} ON public.t USING btree ({', '.join(keys)})",
        am="btree",
        is_primary=primary,
        is_unique=unique,
        is_valid=True,
        backs_constraint=constraint,
        keys=tuple(keys),
        include=tuple(include),
        has_expressions=False,
        predicate="",
        idx_scan=scans,
        size=8192,
    )


def finder(existing):
    return DropFinder(
        conn=None,
        target=None,
        caps=None,
        statements=[],
        existing=existing,
        window=Window(None, None),
        analyses=frozenset({2, 3}),
        engine_name="",
    )


def test_prefix_and_equal_duplicates_are_found_but_never_unique_ones():
    pairs = finder(
        [
            index("t_pkey", ("id",), unique=True, primary=True, constraint=True),
            index("t_id_plain", ("id",)),
            index("t_a", ("a",)),
            index("t_a_b", ("a", "b")),
            index("t_a_uniq", ("a", "c"), unique=True),
            index("t_x", ("x",), scans=5),
            index("t_x_twin", ("x",), scans=1),
        ]
    ).duplicates()
    assert sorted((a.name, b.name) for a, b in pairs) == [
        ("t_a", "t_a_b"),
        ("t_id_plain", "t_pkey"),
        ("t_x_twin", "t_x"),
    ]


def test_an_include_column_the_other_lacks_keeps_an_index():
    pairs = finder([index("t_a_inc", ("a",), include=("z",)), index("t_a_b", ("a", "b"))])
    assert pairs.duplicates() == []
