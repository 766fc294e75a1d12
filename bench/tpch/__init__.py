"""The TPC-H advisor-quality benchmark of BENCH.md ("Advisor quality").

Data flow, one module per role:

    data        generate TPC-H with tpchgen-cli, load it (no indexes) into a database of its own
    queries     the 22 queries of duckdb-extension-tpch, minus 2, 17 and 20, in PostgreSQL dialect
    columns     indexable columns per query (WHERE, JOIN, ORDER BY, GROUP BY), parsed with pglast
    whatif      HypoPG what-if costs in one session, with a cost cache (shared by the baselines)
    evaluator   the common evaluator: relative workload cost and sizes of any set of CREATE INDEX
    extend      baseline: Extend (Schlosser, Kossmann, Boissier, ICDE 2019)
    union       baseline: per-query best single index, unioned
    advisor     pgsage itself, through the optimizer's real gRPC interface
    report      the table and the PASS/FAIL verdict
    run         the protocol: every algorithm, every budget, the same database, the same run

`python -m bench.tpch [--scale 1|0.01]` runs it.
"""
