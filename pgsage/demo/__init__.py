"""The demo database: a small shop with skewed data, a realistic workload and imperfect indexes.

    schema     tables, foreign keys, the deliberately missing/unused/duplicate indexes, the data
    workload   parameterised reads and writes with frequencies (pg_stat_statements sees `$n`)
    build      creates the database from nothing and runs the workload once
    measure    before/after timings of the workload around a set of CREATE INDEX statements
    advice     the optimizer's advice on the demo, over gRPC
    config     the optimizer target for the demo (transactional what-if, apply allowed)

`python -m pgsage.demo --help` shows the commands.
"""
